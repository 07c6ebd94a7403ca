// Releases page: while a freeze or a package build runs on a worker, reload every few seconds to show it.
(function () {
  "use strict";
  var runs = document.getElementById("freeze-runs");
  var packing = document.getElementById("package-status");
  if ((runs && runs.dataset.inFlight) || (packing && packing.dataset.inFlight)) setTimeout(function () { location.reload(); }, 3000);
})();

// Copy buttons next to each full sha256 (the text itself is selectable too).
(function () {
  "use strict";
  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.dataset.copy;
      // The clipboard API needs a secure context (https or localhost); elsewhere the
      // hash is selected so Ctrl+C copies it.
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(button); },
          function () { selectText(button.previousElementSibling); });
      } else {
        selectText(button.previousElementSibling);
      }
    });
  });
})();
