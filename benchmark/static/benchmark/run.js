// Run page: polls the run's status JSON, redraws learning curves (plotly via charts.js),
// reloads once the run ends so the server renders metrics and downloads; then draws the
// predictions-against-MOS scatter.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root) return;

  function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(4); }

  var LOSS_NAMES = { mse: "mean squared error", l1: "mean absolute error" };

  function curves(history) {
    var bySplit = {};
    history.forEach(function (h) {
      (bySplit[h.split] = bySplit[h.split] || []).push(h);
    });
    var loss = [], val = [];
    Object.keys(bySplit).forEach(function (split) {
      var rows = bySplit[split];
      var x = rows.map(function (h) { return h.epoch; });
      var name = "split " + split;
      loss.push({ x: x, y: rows.map(function (h) { return h.train_loss; }), name: name, mode: "lines+markers" });
      val.push({ x: x, y: rows.map(function (h) { return h.val_srcc; }), name: name, mode: "lines+markers" });
    });
    var lossName = LOSS_NAMES[root.dataset.loss] || root.dataset.loss || "loss";
    var empty = history.length ? [] : [{ text: "No epoch finished yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
    // One tick per epoch while they fit; plotly's own ticks for long runs.
    var epochs = Math.max.apply(null, history.map(function (h) { return h.epoch; }).concat([1]));
    var epochAxis = epochs <= 20 ? { dtick: 1 } : {};
    return Promise.all([
      Plotly.react("fig-loss", loss, Charts.layout({
        title: "Training loss per epoch (" + lossName + ")",
        x: "epoch", y: "training loss (standardised MOS units)",
        xaxis: epochAxis, annotations: empty, height: 320,
      }), Charts.config),
      Plotly.react("fig-val", val, Charts.layout({
        title: "Validation SRCC per epoch (checkpoint chosen on it)",
        x: "epoch", y: "validation SRCC (−1 to 1)",
        xaxis: epochAxis, annotations: empty, height: 320,
      }), Charts.config),
    ]);
  }

  function render(data) {
    root.querySelector('[data-field="status"]').textContent = data.status_display;
    var p = data.progress || {};
    var text = "";
    if (data.status === "running" && p.epoch) {
      text = "epoch " + p.epoch + " of " + p.epochs;
      if (p.splits > 1) text = "split " + p.split + " of " + p.splits + ", " + text;
      text += ", loss " + fmt(p.train_loss) + ", val SRCC " + fmt(p.val_srcc);
    }
    root.querySelector('[data-field="progress"]').textContent = text;
    Charts.plotly().then(function () { return curves(data.history || []); })
      .catch(function (error) { Charts.failed("fig-loss", error); });
  }

  function scatter() {
    Promise.all([
      fetch(root.dataset.scatter, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); }),
      Charts.plotly(),
    ]).then(function (results) {
      var data = results[0];
      var low = Infinity, high = -Infinity;
      var traces = Object.keys(data.columns).map(function (column) {
        var c = data.columns[column];
        c.mos.concat(c.pred).forEach(function (v) { low = Math.min(low, v); high = Math.max(high, v); });
        return { x: c.mos, y: c.pred, text: c.stimulus, name: column + " (test stimuli)", mode: "markers", type: "scatter" };
      });
      if (traces.length) {
        traces.push({
          x: [low, high], y: [low, high], mode: "lines", name: "perfect prediction (y = x)",
          line: { dash: "dot", color: "#888" }, hoverinfo: "skip",
        });
      }
      return Plotly.react("fig-scatter", traces, Charts.layout({
        title: "Test predictions against MOS",
        x: "MOS (release scale)", y: "predicted score (release scale)",
        height: 460,
        annotations: traces.length ? [] : [{ text: "No predictions file", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
      }), Charts.config);
    }).catch(function (error) { Charts.failed("fig-scatter", error); });
  }

  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        render(data);
        if (data.finished && !root.dataset.finished) { location.reload(); return; }
        if (!data.finished) setTimeout(poll, 3000);
      })
      .catch(function () { setTimeout(poll, 10000); });
  }

  poll();
  if (root.dataset.succeeded) scatter();
})();
