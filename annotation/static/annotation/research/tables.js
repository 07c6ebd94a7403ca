// The "tick every row on this page" box of the researcher tables.
document.querySelectorAll("[data-tick-all]").forEach((all) => {
  all.addEventListener("change", () => {
    all.closest("table").querySelectorAll("tbody input[type=checkbox]").forEach((box) => {
      box.checked = all.checked;
    });
  });
});

// Stimuli without a thumbnail (e.g. loaded by a script rather than imported) show a blank
// cell instead of a broken-image icon.
document.querySelectorAll("img[data-thumb]").forEach((img) => {
  const hide = () => { img.style.visibility = "hidden"; };
  if (img.complete && img.naturalWidth === 0) hide();
  img.addEventListener("error", hide);
});
