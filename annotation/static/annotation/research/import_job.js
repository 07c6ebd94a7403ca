// Polls an import job until it finishes, updating status, progress and the error report.
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
        set("status", job.status);
        set("progress", job.progress);
        set("total", job.total);
        var body = root.querySelector('[data-field="errors"]');
        body.replaceChildren.apply(body, job.errors.map(function (e) {
          var tr = document.createElement("tr");
          [e.row, e.image, e.message].forEach(function (v) {
            var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
          });
          return tr;
        }));
        if (job.finished) { if (job.status === "done") location.reload(); return; }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  poll();
})();
