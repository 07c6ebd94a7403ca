// Subject pages other than the trial: the small-screen gate before consent, the
// fullscreen choice and the display check on the instructions page. No framework.
(function () {
  "use strict";

  // --- small screens: a phone or tablet sees "please use a larger screen" -------------
  function isSmallScreen() {
    const shortSide = Math.min(screen.width, screen.height);
    const touchOnly = window.matchMedia("(pointer: coarse)").matches &&
      !window.matchMedia("(any-pointer: fine)").matches;
    return shortSide < 600 || touchOnly;
  }

  const gated = document.querySelector("[data-small-screen-gate]");
  if (gated && isSmallScreen()) {
    gated.hidden = true;
    document.getElementById("small-screen").hidden = false;
  }

  // --- instructions: fullscreen choice, then the display check ------------------------
  const start = document.getElementById("start");
  if (!start) return;
  const choice = document.getElementById("fullscreen-choice");
  const canFullscreen = Boolean(document.fullscreenEnabled && document.documentElement.requestFullscreen);
  if (!canFullscreen) choice.parentElement.hidden = true;

  function remember(on) {
    try { sessionStorage.setItem("subject-fullscreen", on ? "1" : "0"); } catch (e) { /* private mode */ }
  }

  start.addEventListener("click", function (event) {
    const fullscreen = canFullscreen && choice.checked;
    remember(fullscreen);
    if (!start.hasAttribute("data-display-check")) return;  // resuming: straight on
    event.preventDefault();
    if (fullscreen) {
      const asked = document.documentElement.requestFullscreen();
      if (asked && asked.catch) asked.catch(function () {});
    }
    showDisplayCheck();
  });

  const check = document.getElementById("display-check");
  if (!check) return;
  const strings = JSON.parse(document.getElementById("display-strings").textContent);
  const confirm = document.getElementById("grey-confirm");
  const proceed = document.getElementById("display-continue");
  const facts = document.getElementById("display-facts");
  const errorBox = document.getElementById("display-error");
  const csrf = check.querySelector("input[name=csrfmiddlewaretoken]").value;

  function measurements() {
    return {
      window_width: window.innerWidth,
      window_height: window.innerHeight,
      screen_width: screen.width,
      screen_height: screen.height,
      device_pixel_ratio: window.devicePixelRatio || 1,
      fullscreen: Boolean(document.fullscreenElement),
      grey_steps_distinguishable: confirm.checked,
    };
  }

  function showFacts() {
    const m = measurements();
    facts.textContent = strings.facts
      .replace("%(width)s", m.window_width).replace("%(height)s", m.window_height)
      .replace("%(screen_width)s", m.screen_width).replace("%(screen_height)s", m.screen_height)
      .replace("%(ratio)s", String(Math.round(m.device_pixel_ratio * 100) / 100));
  }

  function showDisplayCheck() {
    document.getElementById("instructions-step").hidden = true;
    document.body.classList.add("checking-display");
    check.hidden = false;
    showFacts();
    confirm.focus();
  }

  window.addEventListener("resize", showFacts);
  confirm.addEventListener("change", function () { proceed.disabled = !confirm.checked; });
  proceed.addEventListener("click", async function () {
    proceed.disabled = true;
    errorBox.hidden = true;
    try {
      const response = await fetch(check.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(measurements()),
      });
      const answer = await response.json().catch(function () { return {}; });
      if (response.ok) {
        window.location.assign(answer.next_url);
        return;
      }
      if (response.status === 409) {
        window.location.reload();
        return;
      }
      errorBox.textContent = answer.error || strings.failed;
    } catch (networkError) {
      errorBox.textContent = strings.failed;
    }
    errorBox.hidden = false;
    proceed.disabled = !confirm.checked;
  });

  if (window.location.hash === "#display-check") showDisplayCheck();
})();
