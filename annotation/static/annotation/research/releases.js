// Releases page: while a freeze runs on a worker, reload every few seconds to show it.
(function () {
  "use strict";
  var runs = document.getElementById("freeze-runs");
  if (runs && runs.dataset.inFlight) setTimeout(function () { location.reload(); }, 3000);
})();
