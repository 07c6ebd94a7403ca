// Run page: polls the run's status JSON, redraws learning curves (plotly, served locally),
// reloads once the run ends so the server renders metrics and downloads; then draws the
// predictions-against-MOS scatter.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root) return;

  function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(4); }

  function curves(history) {
    var bySplit = {};
    history.forEach(function (h) {
      (bySplit[h.split] = bySplit[h.split] || []).push(h);
    });
    var loss = [], val = [];
    Object.keys(bySplit).forEach(function (split) {
      var rows = bySplit[split];
      var x = rows.map(function (h) { return h.epoch; });
      loss.push({ x: x, y: rows.map(function (h) { return h.train_loss; }), name: split, mode: "lines+markers" });
      val.push({ x: x, y: rows.map(function (h) { return h.val_srcc; }), name: split, mode: "lines+markers" });
    });
    var layout = function (title, y) {
      return { title: title, xaxis: { title: "epoch", dtick: 1 }, yaxis: { title: y }, height: 300, margin: { t: 40 } };
    };
    Plotly.react("fig-loss", loss, layout("Training loss", "loss (standardised MOS)"), { responsive: true });
    Plotly.react("fig-val", val, layout("Validation SRCC", "SRCC"), { responsive: true });
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
    if (window.Plotly) curves(data.history || []);
  }

  function scatter() {
    fetch(root.dataset.scatter, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var traces = Object.keys(data.columns).map(function (column) {
          var c = data.columns[column];
          return { x: c.mos, y: c.pred, text: c.stimulus, name: column, mode: "markers", type: "scatter" };
        });
        Plotly.react("fig-scatter", traces, {
          xaxis: { title: "MOS" }, yaxis: { title: "prediction" }, height: 420, margin: { t: 20 },
        }, { responsive: true });
      });
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

  window.addEventListener("load", function () {
    poll();
    if (root.dataset.succeeded) scatter();
  });
})();
