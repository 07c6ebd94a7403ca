// Pairwise trials: two images at their natural pixels side by side; where the window
// cannot hold both, one at a time with a toggle and a warning (never scaled). Arrow keys
// or clicks (taps) choose per question, Enter or Next submits; the answer is idempotent on
// the server, which answers with the next pair: it is shown in place, as on the rating
// page, so full screen stays. A training pair first shows the expected answer.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("trial-data").textContent);
  const strings = data.strings;
  let trial = data.trial;
  const form = document.getElementById("pair-form");
  const nextButton = document.getElementById("next");
  const errorBox = document.getElementById("submit-error");
  const connectionBox = document.getElementById("connection-lost");
  const warning = document.getElementById("pair-warning");
  const toggleRow = document.getElementById("pair-toggle-row");
  const toggle = document.getElementById("view-toggle");
  const stage = document.getElementById("stage");
  const imagesBox = document.getElementById("images");
  const images = [document.getElementById("image-left"), document.getElementById("image-right")];
  const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const dims = Array.from(form.querySelectorAll(".pair-dim"));
  let choices = {};
  let active = 0;
  let shownAt = null;
  let busy = false;
  let feedbackNext = null;

  function fill(template, values) {
    return template
      .replace(/%\((\w+)\)s/g, function (_match, name) { return values[name]; })
      .replace(/%%/g, "%");
  }

  // --- layout: natural pixels, side by side or one at a time -------------------------
  function naturalSize(image) {
    // One image pixel never covers more than one device pixel (no upscaling on HiDPI).
    const ratio = window.devicePixelRatio || 1;
    return { width: image.naturalWidth / ratio, height: image.naturalHeight / ratio };
  }

  function layout() {
    const sizes = images.map(naturalSize);
    images.forEach(function (image, k) {
      image.style.width = sizes[k].width + "px";
      image.style.height = sizes[k].height + "px";
    });
    imagesBox.classList.remove("toggle-view");
    warning.hidden = true;
    toggleRow.hidden = true;
    const caption = imagesBox.querySelector("figcaption").offsetHeight;
    const gap = parseFloat(getComputedStyle(imagesBox).columnGap) || 0;
    const roomX = stage.clientWidth - 2 * parseFloat(getComputedStyle(stage).paddingLeft || 0);
    const roomY = imagesBox.clientHeight;
    const fits = sizes[0].width + sizes[1].width + gap <= roomX &&
      Math.max(sizes[0].height, sizes[1].height) + caption <= roomY;
    document.body.dataset.pairView = fits ? "side-by-side" : "toggle";
    if (fits) return;
    imagesBox.classList.add("toggle-view");
    toggleRow.hidden = false;
    warning.hidden = false;
    const side = imagesBox.dataset.showing === "left" ? 0 : 1;
    const one = sizes[side];
    const oneFits = one.width <= roomX && one.height + caption <= imagesBox.clientHeight;
    warning.textContent = oneFits ? strings.toggleView : strings.toggleView + " " +
      fill(strings.tooSmall, { width: images[side].naturalWidth, height: images[side].naturalHeight });
    toggle.textContent = side === 0 ? strings.showRight : strings.showLeft;
  }

  function showSide(side) {
    imagesBox.dataset.showing = side;
    document.body.dataset.pairShowing = side;
    layout();
  }

  function switchView() {
    if (imagesBox.classList.contains("toggle-view")) {
      showSide(imagesBox.dataset.showing === "left" ? "right" : "left");
    }
  }

  function whenShown() {
    if (!images.every(function (image) { return image.complete && image.naturalWidth; })) return;
    layout();
    images.forEach(function (image) { image.style.visibility = ""; });
    if (shownAt === null) shownAt = performance.now();
    document.body.dataset.trialShown = String(trial.trialIndex);
    for (const url of trial.preload) {
      const next = new Image();
      next.decoding = "async";
      next.src = url;
    }
  }

  images.forEach(function (image) {
    image.addEventListener("load", whenShown);
    image.addEventListener("error", function () {
      if (!image.naturalWidth) window.location.reload();
    }, { once: true });
  });
  whenShown();
  window.addEventListener("resize", function () { if (shownAt !== null) layout(); });
  toggle.addEventListener("click", switchView);

  // --- choices ------------------------------------------------------------------------
  function activate(index) {
    active = Math.max(0, Math.min(index, dims.length - 1));
    dims.forEach(function (dim, k) { dim.classList.toggle("active", k === active); });
  }

  function choose(index, choice) {
    const dim = dims[index];
    if (!dim.querySelector('[data-choice="' + choice + '"]')) return;
    choices[dim.dataset.key] = choice;
    dim.classList.add("answered");
    dim.querySelectorAll("[data-choice]").forEach(function (button) {
      button.setAttribute("aria-checked", String(button.dataset.choice === choice));
    });
    nextButton.disabled = Object.keys(choices).length < dims.length;
    const unanswered = dims.findIndex(function (d) { return !(d.dataset.key in choices); });
    activate(unanswered === -1 ? index : unanswered);
  }

  dims.forEach(function (dim, index) {
    dim.addEventListener("click", function (event) {
      const button = event.target.closest("[data-choice]");
      activate(index);
      if (button) choose(index, button.dataset.choice);
    });
  });
  document.querySelectorAll(".pair-figure").forEach(function (figure) {
    figure.addEventListener("click", function () { choose(active, figure.dataset.side); });
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (feedbackNext) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        feedbackNext();
      }
      return;
    }
    if (busy) return;
    const keys = { ArrowLeft: "left", ArrowRight: "right", ArrowDown: "none" };
    if (event.key in keys) {
      event.preventDefault();
      choose(active, keys[event.key]);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      activate(active - 1);
    } else if (event.key === " " && event.target.tagName !== "BUTTON") {
      event.preventDefault();
      switchView();
    } else if (event.key === "Enter" && !["next", "view-toggle"].includes(event.target.id)) {
      // Enter on a choice button (focused by its click) means Next, not "choose again".
      event.preventDefault();
      if (!nextButton.disabled) form.requestSubmit();
    }
  });

  // --- submit -------------------------------------------------------------------------
  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  async function submit(event) {
    event.preventDefault();
    if (busy || nextButton.disabled) return;
    busy = true;
    nextButton.disabled = true;
    errorBox.hidden = true;
    const started = shownAt === null ? performance.now() : shownAt;
    const body = {
      left: trial.left,
      right: trial.right,
      choices: choices,
      response_time_ms: Math.max(0, Math.round(performance.now() - started)),
    };
    // Sent again, unchanged, until the server answers (submit_retry.js).
    const response = await window.subjectSubmit.sendUntilAnswered({
      url: trial.submitUrl,
      body: JSON.stringify(body),
      csrfToken: csrfToken,
      language: data.language,
      box: connectionBox,
      message: strings.connectionLost,
    });
    const answer = await response.json().catch(function () { return {}; });
    if (!response.ok || !answer.ok) {
      showError(answer.error || fill(strings.notAccepted, { status: response.status }));
      if (response.status !== 400) {
        // The session moved on elsewhere (another tab) or ended: reloading shows the
        // page the server has for it now.
        setTimeout(function () { window.location.reload(); }, 1500);
        return;
      }
      busy = false;
      nextButton.disabled = false;
      return;
    }
    let gone = false;
    const goOn = function () {
      if (gone) return;  // Enter and a click on Continue may both arrive
      gone = true;
      moveOn(answer);
    };
    if (answer.feedback) showFeedback(answer.feedback, goOn);
    else goOn();
  }

  form.addEventListener("submit", submit);

  // --- training feedback: the side that should have won, per question ---------------
  function choiceText(choice) {
    return { left: strings.expectedLeft, right: strings.expectedRight, none: strings.expectedNone }[choice];
  }

  function buttonText(dim, choice) {
    const button = dim.querySelector('[data-choice="' + choice + '"]');
    return button ? button.textContent.trim() : choice;
  }

  function showFeedback(feedback, goOn) {
    const rows = document.getElementById("feedback-rows");
    rows.textContent = "";
    let allRight = true;
    const sentences = [];
    for (const dim of dims) {
      const key = dim.dataset.key;
      const expected = feedback.expected[key];
      if (expected !== undefined && expected !== choices[key]) allRight = false;
      const row = document.createElement("tr");
      row.dataset.key = key;
      for (const text of [dim.querySelector(".dim-label").textContent, buttonText(dim, choices[key]),
        expected === undefined ? "–" : buttonText(dim, expected)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      rows.appendChild(row);
      if (expected !== undefined && dims.length === 1) sentences.push(choiceText(expected));
    }
    const verdict = document.getElementById("feedback-verdict");
    sentences.push(allRight ? strings.yourAnswerRight : strings.yourAnswerWrong);
    verdict.textContent = sentences.join(" ");
    verdict.classList.toggle("off", !allRight);
    form.hidden = true;
    document.getElementById("feedback").hidden = false;
    const button = document.getElementById("feedback-continue");
    feedbackNext = goOn;
    button.onclick = goOn;
    button.focus({ preventScroll: true });
  }

  // --- the next pair, in place -------------------------------------------------------
  function moveOn(answer) {
    if (answer.next_trial) showPair(answer.next_trial, answer.next_url);
    else window.location.assign(answer.next_url);
  }

  function showPrompts(prompts) {
    const box = document.getElementById("pair-prompts");
    box.querySelectorAll(".prompt-text").forEach(function (node) { node.remove(); });
    prompts.forEach(function (prompt, k) {
      const line = document.createElement("p");
      line.className = "prompt-text";
      const label = prompts.length > 1 ? (k === 0 ? strings.promptLeft : strings.promptRight) + " " : "";
      line.textContent = label + (prompt || strings.noPrompt);
      box.appendChild(line);
    });
  }

  function setImage(image, url, size) {
    // Hidden until the new image is decoded: the old one must never pass for it.
    image.style.visibility = "hidden";
    if (size[0]) {
      image.width = size[0];
      image.height = size[1];
    } else {
      image.removeAttribute("width");
      image.removeAttribute("height");
    }
    image.src = url;
  }

  function showPair(next, url) {
    trial = next;
    // The address follows the trial, so a reload or a shared link lands on it.
    history.replaceState(null, "", url);
    document.getElementById("progress").textContent = next.progressLabel;
    document.getElementById("progress-bar").style.width = next.progressPercent + "%";
    document.title = next.progressLabel + document.title.slice(document.title.indexOf(" · "));
    document.getElementById("practice-badge").hidden = !next.training;
    showPrompts(next.prompts);
    shownAt = null;
    delete document.body.dataset.trialShown;
    setImage(images[0], next.leftUrl, next.leftSize);
    setImage(images[1], next.rightUrl, next.rightSize);
    choices = {};
    dims.forEach(function (dim) {
      dim.classList.remove("answered");
      dim.querySelectorAll("[data-choice]").forEach(function (button) {
        button.setAttribute("aria-checked", "false");
      });
    });
    activate(0);
    imagesBox.dataset.showing = "left";
    feedbackNext = null;
    document.getElementById("feedback").hidden = true;
    form.hidden = false;
    errorBox.hidden = true;
    nextButton.disabled = true;
    busy = false;
    whenShown();
  }

  // --- fullscreen: restored after a page load (fullscreen_resume.js) -----------------
  window.subjectFullscreen.setUp({
    message: strings.fullscreenResume,
    onEnter: function () { shownAt = performance.now(); },
  });
})();
