// Pairwise trials: two images at their natural pixels side by side; where the window
// cannot hold both, one at a time with a toggle and a warning (never scaled). Arrow keys
// or clicks choose per question, Enter or Next submits; the answer is idempotent on the
// server and the next pair is a page load (which is also how a session resumes).
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("trial-data").textContent);
  const strings = data.strings;
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
  const choices = {};
  let active = 0;
  let shownAt = null;
  let busy = false;

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
    if (shownAt === null) shownAt = performance.now();
    document.body.dataset.trialShown = String(data.trialIndex);
    for (const url of data.preload) {
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
    if (event.altKey || event.ctrlKey || event.metaKey || busy) return;
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
      left: data.left,
      right: data.right,
      choices: choices,
      response_time_ms: Math.max(0, Math.round(performance.now() - started)),
    };
    // Sent again, unchanged, until the server answers (submit_retry.js).
    const response = await window.subjectSubmit.sendUntilAnswered({
      url: data.submitUrl,
      body: JSON.stringify(body),
      csrfToken: csrfToken,
      language: data.language,
      box: connectionBox,
      message: strings.connectionLost,
    });
    const answer = await response.json().catch(function () { return {}; });
    if (!response.ok || !answer.ok) {
      busy = false;
      nextButton.disabled = false;
      showError(answer.error || fill(strings.notAccepted, { status: response.status }));
      return;
    }
    window.location.assign(answer.next_url);
  }

  form.addEventListener("submit", submit);
})();
