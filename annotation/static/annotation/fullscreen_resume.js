// Full screen on the subject pages, shared by the rating page (trial.js) and the pair
// page (pair.js): chosen on the instructions page, restored after every page load.
//
// A page load (the first trial, after a break) leaves full screen, and only a key press
// or a click may enter it again: the first one goes to that, not to the answers.
(function () {
  "use strict";

  function wantsFullscreen() {
    try { return sessionStorage.getItem("subject-fullscreen") === "1"; } catch (e) { return false; }
  }

  // onEnter runs as full screen is asked for: the time to answer starts when the
  // stimuli can be seen, so the page resets its clock there.
  function setUp(options) {
    const resume = document.getElementById("fullscreen-resume");
    const toggle = document.getElementById("fullscreen-toggle");
    const canFullscreen = Boolean(
      document.fullscreenEnabled && document.documentElement.requestFullscreen
    );
    if (!canFullscreen) return;
    function enterFullscreen() {
      resume.hidden = true;
      document.removeEventListener("keydown", resumeOnKey, true);
      options.onEnter();
      const asked = document.documentElement.requestFullscreen();
      if (asked && asked.catch) asked.catch(function () {});
    }
    function resumeOnKey(event) {
      if (event.key === "Escape") return;
      event.preventDefault();
      event.stopImmediatePropagation();
      enterFullscreen();
    }
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      if (document.fullscreenElement) document.exitFullscreen();
      else enterFullscreen();
      toggle.blur();
    });
    if (wantsFullscreen() && !document.fullscreenElement) {
      resume.querySelector("p").textContent = options.message;
      resume.hidden = false;
      resume.addEventListener("click", enterFullscreen, { once: true });
      document.addEventListener("keydown", resumeOnKey, true);
    }
  }

  window.subjectFullscreen = { setUp: setUp };
})();
