// Polls the sweep's status JSON and updates each run's row; reloads once the sweep ends
// so the server renders the results table, which this script then draws as a chart.
(function () {
  "use strict";
  var root = document.getElementById("sweep");
  if (!root) return;
  var resultsJson = document.getElementById("sweep-results");

  // One group of bars per (model, backbone), one bar per score column: the table's SRCC.
  function resultsChart(results) {
    var labels = results.rows.map(function (row) { return row.model.toUpperCase() + " · " + row.backbone; });
    var traces = results.columns.map(function (column) {
      var cells = results.rows.map(function (row) { return (row.cells || {})[column] || {}; });
      return {
        type: "bar", name: column, x: labels,
        y: cells.map(function (c) { return c.srcc === undefined ? null : c.srcc; }),
        customdata: cells.map(function (c) { return [c.plcc, c.n]; }),
        hovertemplate: "%{x}<br>SRCC %{y:.4f}, PLCC %{customdata[0]:.4f}<br>n = %{customdata[1]} runs<extra>%{fullData.name}</extra>",
      };
    });
    var lowest = 0;  // SRCC can be negative; the axis shows it when a cell is
    traces.forEach(function (t) { t.y.forEach(function (v) { if (v !== null) lowest = Math.min(lowest, v); }); });
    return Charts.plotly().then(function () {
      return Plotly.react("fig-results", traces, Charts.layout({
        title: "Test SRCC by model and backbone (median over repeats)",
        x: "model · backbone", y: "test SRCC (−1 to 1)",
        xaxis: { type: "category" }, yaxis: { range: [lowest, 1] },
        barmode: "group", bargap: results.rows.length < 3 ? 0.6 : 0.2, height: 380,
      }), Charts.config);
    }).catch(function (error) { Charts.failed("fig-results", error); });
  }

  if (resultsJson) resultsChart(JSON.parse(resultsJson.textContent));
  if (root.dataset.finished) return;

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
