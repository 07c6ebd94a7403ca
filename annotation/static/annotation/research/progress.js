// Polls the study's progress JSON and redraws three plotly figures; no page reload.
(function () {
  "use strict";
  var root = document.getElementById("progress");
  if (!root) return;
  var url = root.dataset.url;
  var layout = function (title, x, y) {
    // plotly.js 3+ draws a title only when it is given as {text: ...}.
    return {
      title: { text: title }, xaxis: { title: { text: x } }, yaxis: { title: { text: y } },
      margin: { t: 40 }, height: 320,
    };
  };

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "–" : text;
    row.appendChild(td);
  }

  // Adaptive studies: stimuli at the precision target and the spread of half-widths.
  function renderAllocation(allocation, stimuli) {
    var body = root.querySelector("#allocation-dimensions tbody");
    if (!allocation || !body) return;
    body.textContent = "";
    allocation.dimensions.forEach(function (d) {
      var row = document.createElement("tr");
      cell(row, d.key);
      cell(row, d.target);
      cell(row, d.at_target + " of " + stimuli);
      cell(row, d.unrated);
      cell(row, d.median);
      cell(row, d.p90);
      body.appendChild(row);
    });
    var traces = allocation.dimensions.map(function (d) {
      return { type: "histogram", x: d.half_widths, name: d.key };
    });
    var shapes = allocation.dimensions.map(function (d) {
      return { type: "line", x0: d.target, x1: d.target, yref: "paper", y0: 0, y1: 1, line: { dash: "dash" } };
    });
    Plotly.react("fig-halfwidths", traces, Object.assign(
      layout("CI half-width of the MOS (dashed: target)", "half-width", "stimuli"),
      { barmode: "group", shapes: shapes }
    ), { responsive: true });
  }

  function field(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value === null || value === undefined ? value : value[key];
    }, data);
  }

  function render(data) {
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var value = field(data, el.dataset.field);
      if (value !== null && value !== undefined) el.textContent = value;
    });
    renderAllocation(data.allocation, data.stimuli);
    Plotly.react("fig-histogram", [
      { type: "histogram", x: data.ratings_per_stimulus, name: "stimuli" },
    ], Object.assign(layout("Ratings per stimulus", "ratings", "stimuli"), {
      // An adaptive study has no fixed number of ratings to aim at.
      shapes: data.allocation ? [] : [{ type: "line", x0: data.target, x1: data.target, yref: "paper", y0: 0, y1: 1, line: { dash: "dash" } }],
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
