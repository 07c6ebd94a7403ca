// Polls the sweep's status JSON and updates each run's row; reloads once the sweep ends
// so the server renders the results table. No build step, no dependencies.
(function () {
  "use strict";
  var root = document.getElementById("sweep");
  if (!root || root.dataset.finished) return;

  function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(4); }

  function progressText(run) {
    var p = run.progress || {};
    if (run.status !== "running") return "";
    if (!p.epoch) return "starting";
    var text = "epoch " + p.epoch + " of " + p.epochs;
    if (p.splits > 1) text = "split " + p.split + " of " + p.splits + ", " + text;
    return text + ", loss " + fmt(p.train_loss) + ", val SRCC " + fmt(p.val_srcc);
  }

  function statusText(run) {
    var text = run.status_display;
    if (run.cancel_requested && run.status === "running") text += " (cancelling)";
    if (run.requeued_after_worker_loss) text += " · re-queued after worker loss";
    if (run.status === "failed" && run.error) text += ": " + run.error.slice(0, 120);
    return text;
  }

  function testSrcc(run) {
    var metrics = run.test_metrics || {};
    return Object.keys(metrics).map(function (col) {
      var x = metrics[col].srcc;
      return x === null || x === undefined ? "–" : Number(x).toFixed(3);
    }).join(" · ");
  }

  function render(data) {
    root.querySelector('[data-field="status"]').textContent = data.status;
    data.runs.forEach(function (run) {
      var row = root.querySelector('tr[data-run="' + run.id + '"]');
      if (!row) return;
      row.querySelector('[data-field="status"]').textContent = statusText(run);
      row.querySelector('[data-field="progress"]').textContent = progressText(run);
      row.querySelector('[data-field="srcc"]').textContent = testSrcc(run);
      row.querySelector('[data-field="worker"]').textContent =
        run.worker_host + (run.device ? " · " + run.device : "");
    });
    if (data.finished) location.reload();
  }

  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { render(data); if (!data.finished) setTimeout(poll, 3000); })
      .catch(function () { setTimeout(poll, 10000); });
  }
  poll();
})();
