// Polls the study's progress JSON and redraws three plotly figures; no page reload.
(function () {
  "use strict";
  var root = document.getElementById("progress");
  if (!root) return;
  var url = root.dataset.url;
  var layout = function (title, x, y) {
    return { title: title, xaxis: { title: x }, yaxis: { title: y }, margin: { t: 40 }, height: 320 };
  };

  function render(data) {
    ["stimuli", "stimuli_at_target", "ratings_missing", "sessions_needed"].forEach(function (k) {
      var el = root.querySelector('[data-field="' + k + '"]');
      if (el) el.textContent = data[k];
    });
    Plotly.react("fig-histogram", [
      { type: "histogram", x: data.ratings_per_stimulus, name: "stimuli" },
    ], Object.assign(layout("Ratings per stimulus", "ratings", "stimuli"), {
      shapes: [{ type: "line", x0: data.target, x1: data.target, yref: "paper", y0: 0, y1: 1, line: { dash: "dash" } }],
    }), { responsive: true });
    Plotly.react("fig-subjects", [{
      type: "bar",
      x: data.subjects.map(function (s) { return s.label; }),
      y: data.subjects.map(function (s) { return s.total ? s.done / s.total * 100 : 0; }),
      text: data.subjects.map(function (s) { return s.state.replace("_", " "); }),
    }], layout("Completion per subject", "subject", "% of session"), { responsive: true });
    Plotly.react("fig-hourly", [{
      type: "bar",
      x: data.ratings_per_hour.map(function (r) { return r.hour; }),
      y: data.ratings_per_hour.map(function (r) { return r.count; }),
    }], layout("Ratings per hour", "hour", "ratings"), { responsive: true });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(render)
      .catch(function (e) { console.warn("progress refresh failed", e); })
      .finally(function () { setTimeout(poll, 15000); });
  }
  poll();
})();
