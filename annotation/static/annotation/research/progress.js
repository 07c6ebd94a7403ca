// Polls the study's progress JSON and redraws three plotly figures; no page reload.
// The numbers above the figures update at once; the figures once plotly.js has loaded.
(function () {
  "use strict";
  var root = document.getElementById("progress");
  if (!root) return;
  var url = root.dataset.url;
  var HOUR_MS = 3600 * 1000;
  // A pairwise study's counts are answered comparisons per image and choices per hour
  // (study_progress counts them in the same fields), so its charts say so.
  var WORDS = root.dataset.kind === "pairwise" ? {
    perStimulus: "Comparisons per image",
    perStimulusAxis: "answered comparisons per image (count)",
    stimuliAxis: "images (count)",
    perStimulusTrace: "images with this many comparisons",
    target: "comparisons",
    noStimuli: "No images yet",
    perHour: "Choices per hour",
    perHourAxis: "choices (count)",
    perHourTrace: "choices in the hour",
    noAnswers: "No choices yet",
  } : {
    perStimulus: "Ratings per stimulus",
    perStimulusAxis: "ratings per stimulus (count)",
    stimuliAxis: "stimuli (count)",
    perStimulusTrace: "stimuli with this many ratings",
    target: "ratings",
    noStimuli: "No stimuli yet",
    perHour: "Images rated per hour",
    perHourAxis: "images rated (count)",
    perHourTrace: "images rated in the hour",
    noAnswers: "No ratings yet",
  };

  function empty(spec, points, text) {
    if (points) return spec;
    spec.annotations = [{ text: text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
    return spec;
  }

  function histogram(data) {
    var spec = {
      title: WORDS.perStimulus,
      x: WORDS.perStimulusAxis,
      y: WORDS.stimuliAxis,
      xaxis: { rangemode: "tozero", dtick: data.target > 20 ? undefined : 1 },
      bargap: 0.05,
      // An adaptive study has no fixed number of ratings to aim at.
      shapes: data.allocation ? [] : [{
        type: "line", x0: data.target, x1: data.target, yref: "paper", y0: 0, y1: 1,
        line: { dash: "dash", color: "#c0392b" }, name: "target (" + data.target + " " + WORDS.target + ")", showlegend: true,
      }],
    };
    return Plotly.react("fig-histogram", [{
      type: "histogram", x: data.ratings_per_stimulus, name: WORDS.perStimulusTrace,
      xbins: { start: -0.5, size: 1 }, marker: { color: "#2f6f9f" },
    }], Charts.layout(empty(spec, data.ratings_per_stimulus.length, WORDS.noStimuli)), Charts.config);
  }

  function subjects(data) {
    var spec = {
      title: "Completion per subject",
      x: "subject (label)",
      y: "session completed (%)",
      xaxis: { type: "category" },
      yaxis: { range: [0, 100], ticksuffix: "%" },
    };
    return Plotly.react("fig-subjects", [{
      type: "bar",
      name: "share of the subject's session answered",
      x: data.subjects.map(function (s) { return s.label; }),
      y: data.subjects.map(function (s) { return s.total ? s.done / s.total * 100 : 0; }),
      text: data.subjects.map(function (s) { return s.state.replace("_", " "); }),
      marker: { color: "#2f6f9f" },
    }], Charts.layout(empty(spec, data.subjects.length, "No subjects yet")), Charts.config);
  }

  function hourly(data) {
    var rows = data.ratings_per_hour;
    // "2026-05-04T13:00:00+02:00": plotly.js reads no offset, so draw the server's wall
    // clock and name the offset in the axis title.
    var offset = rows.length ? rows[0].hour.slice(19) || "Z" : "";
    var starts = rows.map(function (r) { return Date.parse(r.hour.slice(0, 19) + "Z"); });
    var spec = {
      title: WORDS.perHour,
      x: "hour" + (offset ? " (UTC" + (offset === "Z" ? "" : offset) + ")" : ""),
      y: WORDS.perHourAxis,
      xaxis: { type: "date", tickformat: "%H:%M\n%b %d" },
      yaxis: { rangemode: "tozero" },
    };
    if (starts.length) {
      var first = Math.min.apply(null, starts), last = Math.max.apply(null, starts);
      var hours = (last - first) / HOUR_MS + 1;
      // Whole hours only, at most about a dozen ticks; without this a single bar gets
      // ticks a fraction of a millisecond apart.
      spec.xaxis.range = [first - HOUR_MS / 2, last + HOUR_MS * 1.5];
      spec.xaxis.dtick = HOUR_MS * Math.max(1, Math.ceil(hours / 12));
    } else {
      spec.xaxis.showticklabels = false;  // no hours to show, not plotly's default year
    }
    return Plotly.react("fig-hourly", [{
      type: "bar",
      name: WORDS.perHourTrace,
      // A bar spans its hour: centred half an hour after the hour starts.
      x: starts.map(function (t) { return new Date(t + HOUR_MS / 2).toISOString().slice(0, 19); }),
      y: rows.map(function (r) { return r.count; }),
      width: starts.map(function () { return HOUR_MS * 0.9; }),
      marker: { color: "#2f6f9f" },
    }], Charts.layout(empty(spec, rows.length, WORDS.noAnswers)), Charts.config);
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "–" : text;
    row.appendChild(td);
  }

  // Adaptive studies: stimuli at the precision target, per dimension.
  function allocationTable(allocation, stimuli) {
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
  }

  // Adaptive studies: the spread of CI half-widths against each dimension's target.
  function halfWidths(data) {
    var allocation = data.allocation;
    if (!allocation || !document.getElementById("fig-halfwidths")) return null;
    var traces = allocation.dimensions.map(function (d) {
      return { type: "histogram", x: d.half_widths, name: d.key + " (stimuli)" };
    });
    var shapes = allocation.dimensions.map(function (d) {
      return {
        type: "line", x0: d.target, x1: d.target, yref: "paper", y0: 0, y1: 1,
        line: { dash: "dash" }, name: "target " + d.key + " (" + d.target + ")", showlegend: true,
      };
    });
    var points = allocation.dimensions.reduce(function (n, d) { return n + d.half_widths.length; }, 0);
    return Plotly.react("fig-halfwidths", traces, Charts.layout(empty({
      title: "CI half-width of each stimulus's MOS (dashed: target)",
      x: "CI half-width (scale units)",
      y: "stimuli (count)",
      barmode: "group",
      shapes: shapes,
    }, points, "No rated stimuli yet")), Charts.config);
  }

  function field(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value === null || value === undefined ? value : value[key];
    }, data);
  }

  function numbers(data) {
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var value = field(data, el.dataset.field);
      if (value !== null && value !== undefined) el.textContent = value;
    });
    allocationTable(data.allocation, data.stimuli);
  }

  function figures(data) {
    return Charts.plotly().then(function () {
      return Charts.drawEach([histogram, subjects, hourly, halfWidths], function (draw) { return draw(data); });
    }).catch(function (error) { Charts.failed("fig-histogram", error); });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { numbers(data); return figures(data); })
      .catch(function (e) { console.warn("progress refresh failed", e); })
      .finally(function () { setTimeout(poll, 15000); });
  }
  poll();
})();
