// The "tick every row on this page" box of the researcher tables.
document.querySelectorAll("[data-tick-all]").forEach((all) => {
  all.addEventListener("change", () => {
    all.closest("table").querySelectorAll("tbody input[type=checkbox]").forEach((box) => {
      box.checked = all.checked;
    });
  });
});
