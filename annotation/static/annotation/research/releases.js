// Releases page: while a freeze or a package build runs on a worker, reload every few seconds to show it.
(function () {
  "use strict";
  var runs = document.getElementById("freeze-runs");
  var packing = document.getElementById("package-status");
  if ((runs && runs.dataset.inFlight) || (packing && packing.dataset.inFlight)) setTimeout(function () { location.reload(); }, 3000);
})();
