// Polls an import job while it runs; when it finishes, the page reloads to show what
// was imported, or the problems that stopped it.
(function () {
  "use strict";
  var root = document.getElementById("import-job");
  if (!root || root.dataset.finished) return;
  function set(name, value) {
    var el = root.querySelector('[data-field="' + name + '"]');
    if (el) el.textContent = value;
  }
  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        set("status", job.status_display);
        set("progress", job.progress);
        set("total", job.total);
        if (job.finished) { location.reload(); return; }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  poll();
})();
