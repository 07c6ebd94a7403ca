// Rating trials: unset controls until touched, keyboard use, idempotent submit,
// training feedback, preloading of the next image and a check that the image is
// shown at its full natural size. The answer to a submission describes the next
// trial, which replaces this one in place (its images are already preloaded), so a
// trial costs one request; breaks and the end are real page loads. No framework,
// no build step.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("trial-data").textContent);
  // What changes per trial (submitUrl, stimulus, image, reference, prompt, progress...).
  let trial = data;
  const form = document.getElementById("rating-form");
  const nextButton = document.getElementById("next");
  const errorBox = document.getElementById("submit-error");
  const connectionBox = document.getElementById("connection-lost");
  const image = document.getElementById("stimulus");
  const reference = document.getElementById("reference");
  const tooSmall = document.getElementById("too-small");
  const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const scale = data.scale;
  const strings = data.strings;
  const acr = scale.type === "acr";
  const span = scale.max - scale.min;
  const stage = document.getElementById("stage");
  const imagesBox = document.getElementById("images");
  const dims = Array.from(form.querySelectorAll(".dim")).map(setUpDimension);
  const values = {};
  let active = 0;
  let shownAt = null;
  let busy = false;
  let feedbackNext = null;

  // --- image: natural size, time origin, preload -------------------------------------
  function sizeToNaturalPixels() {
    // One image pixel never covers more than one device pixel (no upscaling on HiDPI).
    const ratio = window.devicePixelRatio || 1;
    image.style.width = image.naturalWidth / ratio + "px";
    image.style.height = image.naturalHeight / ratio + "px";
    checkFit();
  }

  function fill(template, values) {
    return template
      .replace(/%\((\w+)\)s/g, function (_match, name) { return values[name]; })
      .replace(/%%/g, "%");
  }

  function limitHeight() {
    // The images get the height left below the message (if any), less their captions.
    const caption = image.parentElement.querySelector("figcaption");
    const room = imagesBox.clientHeight - (caption ? caption.offsetHeight : 0);
    stage.style.setProperty("--image-max-h", Math.max(room, 16) + "px");
  }

  function shownScale() {
    // Device pixels per image pixel; any loss of even one pixel counts as shrunk.
    const ratio = window.devicePixelRatio || 1;
    const box = image.getBoundingClientRect();
    const lostX = image.naturalWidth - box.width * ratio;
    const lostY = image.naturalHeight - box.height * ratio;
    if (lostX <= 0.5 && lostY <= 0.5) return 1;
    return Math.min(box.width * ratio / image.naturalWidth, box.height * ratio / image.naturalHeight);
  }

  function checkFit() {
    if (!image.naturalWidth) return;
    tooSmall.hidden = true;
    limitHeight();
    let shown = shownScale();
    if (shown < 1) {
      // The message takes its own row, which leaves the images less room: measure again.
      tooSmall.hidden = false;
      tooSmall.textContent = fill(strings.tooSmall, {
        width: image.naturalWidth, height: image.naturalHeight, percent: Math.floor(shown * 100),
      });
      limitHeight();
      shown = shownScale();
      tooSmall.textContent = fill(strings.tooSmall, {
        width: image.naturalWidth, height: image.naturalHeight, percent: Math.floor(shown * 100),
      });
    }
    // Tests and tools read the scale the subject actually saw.
    document.body.dataset.imageScale = shown.toFixed(4);
  }

  function imageShown() {
    image.style.visibility = "";
    sizeToNaturalPixels();
    if (shownAt === null) shownAt = performance.now();
    // Tests and tools can tell which trial is on screen, and that its image is there.
    document.body.dataset.trialShown = String(trial.trialIndex);
    // Fetch the next trial's images now, so they come from the cache at once.
    for (const url of trial.preload) {
      const next = new Image();
      next.decoding = "async";
      next.src = url;
    }
  }

  function whenImageShown() {
    if (image.complete && image.naturalWidth) {
      imageShown();
      return;
    }
    image.addEventListener("load", imageShown, { once: true });
    image.addEventListener("error", function () {
      // A page load retries the image and says what is wrong if it still fails.
      if (!image.naturalWidth) window.location.reload();
    }, { once: true });
  }

  whenImageShown();
  window.addEventListener("resize", checkFit);
  // The prompt image is never upscaled either (it may give way to the generated one).
  function sizeReference() {
    const ratio = window.devicePixelRatio || 1;
    reference.style.width = reference.naturalWidth / ratio + "px";
    checkFit();
  }
  reference.addEventListener("load", sizeReference);
  // A prompt image that loaded before this script ran fires no load event for it.
  if (reference.complete && reference.naturalWidth) sizeReference();

  // --- controls ----------------------------------------------------------------------
  function format(value) {
    return String(Math.round(value * 100) / 100);
  }

  function setUpDimension(element, index) {
    const dim = { element: element, key: element.dataset.key, index: index };
    dim.output = element.querySelector(".dim-value");
    dim.slider = element.querySelector("input[type=range]");
    dim.buttons = Array.from(element.querySelectorAll(".acr button"));
    element.addEventListener("pointerdown", function () { activate(index, false); });
    element.addEventListener("focusin", function () { activate(index, false); });
    if (dim.slider) {
      const fromSlider = function () { setValue(dim, Number(dim.slider.value)); };
      dim.slider.addEventListener("input", fromSlider);
      dim.slider.addEventListener("change", fromSlider);
      // A click exactly on the current (hidden) position fires no input event.
      dim.slider.addEventListener("pointerup", fromSlider);
    }
    for (const button of dim.buttons) {
      button.addEventListener("click", function () {
        setValue(dim, Number(button.dataset.value));
      });
    }
    return dim;
  }

  function clearAnswers() {
    for (const key of Object.keys(values)) delete values[key];
    for (const dim of dims) {
      dim.output.textContent = strings.notSet;
      if (dim.slider) {
        dim.slider.value = String(scale.min);
        dim.slider.setAttribute("aria-valuetext", strings.notSet);
        dim.slider.parentElement.classList.add("unset");
      }
      for (const button of dim.buttons) {
        button.setAttribute("aria-checked", "false");
        button.classList.remove("chosen");
      }
      dim.element.classList.remove("answered");
    }
    activate(0, true);
    nextButton.disabled = true;
  }

  function setValue(dim, raw) {
    if (busy || feedbackNext) return;
    let value = Math.min(scale.max, Math.max(scale.min, raw));
    if (scale.step > 0) {
      value = scale.min + Math.round((value - scale.min) / scale.step) * scale.step;
    } else {
      value = Math.round(value * 10) / 10;
    }
    values[dim.key] = value;
    dim.output.textContent = describe(value);
    if (dim.slider) {
      dim.slider.value = String(value);
      dim.slider.setAttribute("aria-valuetext", format(value));
      dim.slider.parentElement.classList.remove("unset");
    }
    for (const button of dim.buttons) {
      const chosen = Math.abs(Number(button.dataset.value) - value) < 1e-9;
      button.setAttribute("aria-checked", chosen ? "true" : "false");
      button.classList.toggle("chosen", chosen);
    }
    dim.element.classList.add("answered");
    nextButton.disabled = !ready();
  }

  function activate(index, focus) {
    active = index;
    dims.forEach(function (dim, i) { dim.element.classList.toggle("active", i === index); });
    if (!focus) return;
    const dim = dims[index];
    if (!dim) return;
    const chosen = dim.buttons.find(function (b) { return b.classList.contains("chosen"); });
    const target = dim.slider || chosen || dim.buttons[0];
    if (target && document.activeElement !== target) target.focus({ preventScroll: true });
  }

  function switchQuestion(direction) {
    if (!dims.length) return;
    activate((active + direction + dims.length) % dims.length, true);
  }

  // A value in the scale's own terms: its label where the scale has one per category,
  // else the value with the nearest labels of a continuous scale.
  function describe(value) {
    const text = format(value);
    const choice = (scale.choices || []).find(function (c) {
      return Math.abs(Number(c.value) - value) < 1e-9;
    });
    if (choice) return choice.label ? text + " · " + choice.label : text;
    const labels = scale.labels || [];
    if (!labels.length) return text;
    if (labels.length === 1) return text + " · " + labels[0];
    const position = (value - scale.min) / span * (labels.length - 1);
    const low = Math.floor(position + 1e-9), high = Math.ceil(position - 1e-9);
    if (low === high || high >= labels.length) return text + " · " + labels[Math.min(low, labels.length - 1)];
    if (position - low < 0.15) return text + " · " + labels[low];
    if (high - position < 0.15) return text + " · " + labels[high];
    return text + " · " + fill(strings.between, { low: labels[low], high: labels[high] });
  }

  function scoreByKey(key) {
    const dim = dims[active];
    const button = dim && dim.buttons.find(function (b) { return b.dataset.shortcut === key; });
    if (!button) return false;
    setValue(dim, Number(button.dataset.value));
    // Straight on to the next unanswered question, so a trial needs only digits and Enter.
    const next = dims.findIndex(function (d, i) { return i > active && !(d.key in values); });
    if (next >= 0) activate(next, true);
    else activate(active, true);
    return true;
  }

  function ready() {
    return dims.every(function (dim) { return dim.key in values; });
  }

  function move(direction, big) {
    const dim = dims[active];
    if (!dim) return;
    const current = values[dim.key];
    if (current === undefined) {
      // The first key press places the answer in the middle; later presses move it.
      setValue(dim, scale.min + span / 2);
      return;
    }
    const step = scale.step > 0 ? scale.step : span / 100;
    setValue(dim, current + direction * step * (big ? (scale.step > 0 ? 1 : 10) : 1));
  }

  // --- keyboard ----------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (!document.getElementById("fullscreen-resume").hidden) return;  // see fullscreen below
    if (feedbackNext) {
      if (event.key === "Enter") {
        event.preventDefault();
        feedbackNext();
      }
      return;
    }
    if (event.key === "Tab") {
      event.preventDefault();
      switchQuestion(event.shiftKey ? -1 : 1);
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      switchQuestion(event.key === "ArrowDown" ? 1 : -1);
      return;
    }
    if (/^[0-9]$/.test(event.key)) {
      // ACR: the key is the score of the highlighted question. Sliders: it picks a question.
      if (acr) {
        if (scoreByKey(event.key)) event.preventDefault();
        return;
      }
      const number = Number(event.key);
      if (number >= 1 && number <= dims.length) {
        event.preventDefault();
        activate(number - 1, true);
      }
      return;
    }
    const directions = { ArrowLeft: -1, ArrowRight: 1 };
    if (event.key in directions) {
      // Ours, not the browser's: the native slider would start from its hidden value.
      event.preventDefault();
      move(directions[event.key], event.shiftKey);
      return;
    }
    if (event.key === "Enter") {
      event.preventDefault();
      submit();
    }
  }, true);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });

  // --- submit ------------------------------------------------------------------------
  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  async function submit() {
    if (busy || !ready()) return;
    if (data.preview) {
      // A researcher's preview: show what was entered would be sent, and send nothing.
      const note = document.getElementById("preview-note");
      const answers = Object.keys(values).map(function (key) {
        return key + " " + format(values[key]);
      });
      note.textContent = data.preview + " Your answers: " + answers.join(", ") + ".";
      note.hidden = false;
      return;
    }
    busy = true;
    nextButton.disabled = true;
    errorBox.hidden = true;
    const started = shownAt === null ? performance.now() : shownAt;
    // The body is fixed before the first try, so a retry is the very same request.
    const body = JSON.stringify({
      stimulus: trial.stimulus,
      scores: Object.assign({}, values),
      response_time_ms: Math.max(0, Math.round(performance.now() - started)),
    });
    const response = await window.subjectSubmit.sendUntilAnswered({
      url: trial.submitUrl,
      body: body,
      csrfToken: csrfToken,
      language: data.language,
      box: connectionBox,
      message: strings.connectionLost,
    });
    const answer = await response.json().catch(function () { return {}; });
    if (response.ok) {
      acknowledged(answer);
      return;
    }
    showError(answer.error || fill(strings.notAccepted, { status: response.status }));
    if (response.status !== 400) {
      // The session moved on elsewhere (another tab) or ended: reloading shows the
      // page the server has for it now.
      setTimeout(function () { window.location.reload(); }, 1500);
      return;
    }
    busy = false;
    nextButton.disabled = !ready();
  }

  function acknowledged(answer) {
    let gone = false;
    const goOn = function () {
      if (gone) return;  // Enter and a click on Continue may both arrive
      gone = true;
      moveOn(answer);
    };
    if (answer.feedback) {
      showFeedback(answer.feedback, goOn);
      return;
    }
    goOn();
  }

  function moveOn(answer) {
    if (answer.next_trial) showTrial(answer.next_trial, answer.next_url);
    else window.location.assign(answer.next_url);
  }

  function showTrial(next, url) {
    trial = next;
    // The address follows the trial, so a reload or a shared link lands on it.
    history.replaceState(null, "", url);
    document.getElementById("progress").textContent = next.progressLabel;
    document.getElementById("progress-bar").style.width = next.progressPercent + "%";
    document.title = next.progressLabel + document.title.slice(document.title.indexOf(" · "));
    document.getElementById("practice-badge").hidden = !next.training;
    document.getElementById("prompt-text").textContent = next.prompt || strings.noPrompt;
    const figure = document.getElementById("reference-figure");
    figure.hidden = !next.reference;
    document.getElementById("stage").classList.toggle("with-reference", Boolean(next.reference));
    if (next.reference) reference.src = next.reference;
    else reference.removeAttribute("src");
    shownAt = null;
    delete document.body.dataset.trialShown;
    // Hidden until the new image is decoded: the old one must never pass for it.
    image.style.visibility = "hidden";
    image.style.width = "";
    image.style.height = "";
    if (next.width) {
      image.width = next.width;
      image.height = next.height;
    } else {
      image.removeAttribute("width");
      image.removeAttribute("height");
    }
    image.src = next.image;
    whenImageShown();
    clearAnswers();
    feedbackNext = null;
    document.getElementById("feedback").hidden = true;
    form.hidden = false;
    busy = false;
  }

  // A qualification trial says whether the answers were close enough to the anchor's.
  function showVerdict(feedback) {
    const verdict = document.getElementById("feedback-verdict");
    if (feedback.tolerance === null || feedback.tolerance === undefined) {
      verdict.hidden = true;
      return;
    }
    const close = data.dimensions.every(function (dim) {
      const expected = feedback.expected[dim.key];
      return expected === undefined || Math.abs(values[dim.key] - expected) <= feedback.tolerance;
    });
    verdict.textContent = close ? strings.close : strings.tooFar;
    verdict.classList.toggle("off", !close);
    verdict.hidden = false;
  }

  function showFeedback(feedback, goOn) {
    const rows = document.getElementById("feedback-rows");
    rows.textContent = "";
    for (const dim of data.dimensions) {
      const row = document.createElement("tr");
      const expected = feedback.expected[dim.key];
      for (const text of [dim.label, describe(values[dim.key]),
        expected === undefined ? "–" : describe(expected)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      rows.appendChild(row);
    }
    document.getElementById("feedback-explanation").textContent = feedback.explanation;
    showVerdict(feedback);
    form.hidden = true;
    const panel = document.getElementById("feedback");
    panel.hidden = false;
    const button = document.getElementById("feedback-continue");
    feedbackNext = goOn;
    button.onclick = goOn;
    button.focus({ preventScroll: true });
  }

  // --- fullscreen: restored after a page load (fullscreen_resume.js) -----------------
  window.subjectFullscreen.setUp({
    message: strings.fullscreenResume,
    onEnter: function () { shownAt = performance.now(); },
  });
})();
