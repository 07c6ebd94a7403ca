// Analysis page: follows a run's progress, then draws its figures and a sortable,
// searchable MOS table from the run's result JSON. No framework, no build step.
(function () {
  "use strict";
  var root = document.getElementById("analysis-run");
  if (!root) return;
  var MAX_ROWS = 500;

  function field(name) { return root.querySelector('[data-field="' + name + '"]'); }

  function poll() {
    fetch(root.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (run) {
        if (run.finished) { location.reload(); return; }
        if (field("step")) field("step").textContent = run.step || "queued";
        if (field("progress")) field("progress").value = run.progress;
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }

  function cell(tag, text) {
    var el = document.createElement(tag);
    el.textContent = text === null || text === undefined ? "–" : text;
    return el;
  }

  function mosTable(mos) {
    var table = document.getElementById("mos-table");
    var search = document.getElementById("mos-search");
    var count = document.getElementById("mos-count");
    var sortBy = 0, descending = false;
    var head = document.createElement("tr");
    mos.columns.forEach(function (name, index) {
      var th = cell("th", name);
      th.className = "sortable";
      th.title = "Sort by " + name;
      th.addEventListener("click", function () {
        descending = sortBy === index ? !descending : false;
        sortBy = index;
        draw();
      });
      head.appendChild(th);
    });
    table.tHead.replaceChildren(head);
    // Lower-case search text per row, computed once (id, name, generator).
    var haystack = mos.rows.map(function (row) { return row.slice(0, 3).join(" ").toLowerCase(); });

    function compare(a, b) {
      var x = a[sortBy], y = b[sortBy];
      if (x === null || x === undefined) return 1;  // missing values last, either direction
      if (y === null || y === undefined) return -1;
      var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return descending ? -order : order;
    }

    function draw() {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var rows = mos.rows.filter(function (row, i) {
        return words.every(function (w) { return haystack[i].indexOf(w) !== -1; });
      }).sort(compare);
      var body = document.createDocumentFragment();
      rows.slice(0, MAX_ROWS).forEach(function (row) {
        var tr = document.createElement("tr");
        row.forEach(function (value) { tr.appendChild(cell("td", value)); });
        body.appendChild(tr);
      });
      table.tBodies[0].replaceChildren(body);
      Array.prototype.forEach.call(head.children, function (th, i) {
        th.setAttribute("aria-sort", i === sortBy ? (descending ? "descending" : "ascending") : "none");
      });
      count.textContent = rows.length + " of " + mos.rows.length + " stimuli" +
        (rows.length > MAX_ROWS ? " (first " + MAX_ROWS + " shown)" : "");
    }
    search.addEventListener("input", draw);
    draw();
  }

  // The figures come from the analysis library with their titles, axis titles and legends.
  function figures(list) {
    var holder = document.getElementById("figures");
    var divs = list.map(function (item) {
      var div = document.createElement("div");
      div.className = "figure";
      div.dataset.section = item.section;
      holder.appendChild(div);
      return div;
    });
    return Charts.plotly().then(function () {
      return Charts.drawEach(list, function (item, index) {
        var layout = Object.assign({}, item.figure.layout, { height: 400 });
        return Plotly.newPlot(divs[index], item.figure.data, layout, Charts.config);
      });
    }).catch(function (error) { Charts.failed(holder, error); });
  }

  // Pairwise studies: one group's scale and preference matrix at a time (studies have
  // thousands of groups). The first group's figures come from the analysis library; another
  // group gets the same figure with its own numbers.
  var MAX_GROUP_OPTIONS = 200;

  function pairwise(result) {
    var dimensionSelect = document.getElementById("pw-dimension");
    var groupInput = document.getElementById("pw-group");
    var list = document.getElementById("pw-group-list");
    var note = document.getElementById("pw-group-note");
    var columns = result.scores.columns;
    var at = {};
    columns.forEach(function (name, index) { at[name] = index; });

    function groupsOf(dimension) { return Object.keys(result.groups[dimension] || {}).sort(); }

    function fillList() {
      var words = groupInput.value.toLowerCase();
      var groups = groupsOf(dimensionSelect.value);
      var shown = groups.filter(function (g) { return g.toLowerCase().indexOf(words) !== -1; });
      var options = document.createDocumentFragment();
      shown.slice(0, MAX_GROUP_OPTIONS).forEach(function (g) {
        var option = document.createElement("option");
        option.value = g;
        options.appendChild(option);
      });
      list.replaceChildren(options);
      note.textContent = groups.length + " groups" +
        (shown.length > MAX_GROUP_OPTIONS ? " (type to narrow the list)" : "");
    }

    function scaleFigure(template, dimension, group) {
      var rows = result.scores.rows.filter(function (row) {
        return row[at.dimension] === dimension && row[at.group] === group;
      }).sort(function (a, b) { return b[at.score] - a[at.score]; });
      var trace = Object.assign({}, template.data[0], {
        x: rows.map(function (row) { return String(row[at.stimulus]); }),
        y: rows.map(function (row) { return row[at.score]; }),
        name: "group " + group,
        customdata: rows.map(function (row) { return [row[at.comparisons], row[at.wins]]; }),
      });
      if (trace.error_y && rows.length && rows[0][at.ci_low] !== null) {
        trace.error_y = Object.assign({}, trace.error_y, {
          array: rows.map(function (row) { return row[at.ci_high] - row[at.score]; }),
          arrayminus: rows.map(function (row) { return row[at.score] - row[at.ci_low]; }),
        });
      }
      return { data: [trace], layout: template.layout };
    }

    function retitle(layout, from, to) {
      var title = Object.assign({}, layout.title, { text: layout.title.text.replace(from, to) });
      return Object.assign({}, layout, { title: title, height: 420 });
    }

    function draw() {
      var dimension = dimensionSelect.value;
      var templates = result.group_figures[dimension];
      var groups = groupsOf(dimension);
      if (!templates || !groups.length) return;
      var group = groups.indexOf(groupInput.value) !== -1 ? groupInput.value : groups[0];
      var first = "group " + groups[0];
      var scale = scaleFigure(templates.scale, dimension, group);
      var matrix = result.groups[dimension][group];
      var heat = Object.assign({}, templates.preference.data[0], {
        z: matrix.wins, x: matrix.stimuli, y: matrix.stimuli,
        text: templates.preference.data[0].text ? matrix.wins : undefined,
      });
      Charts.plotly().then(function () {
        Plotly.react("pw-scale", scale.data, retitle(scale.layout, first, "group " + group), Charts.config);
        Plotly.react("pw-preference", [heat],
          retitle(templates.preference.layout, first, "group " + group), Charts.config);
      }).catch(function (error) { Charts.failed(document.getElementById("pw-scale"), error); });
    }

    dimensionSelect.addEventListener("change", function () { groupInput.value = ""; fillList(); draw(); });
    groupInput.addEventListener("input", fillList);
    groupInput.addEventListener("change", draw);
    fillList();
    draw();
    mosTable(result.scores);
    figures(result.figures);
  }

  if (root.dataset.status === "pending" || root.dataset.status === "running") {
    poll();
  } else if (root.dataset.status === "done") {
    fetch(root.dataset.resultUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (result) {
        if (result.kind === "pairwise") { pairwise(result); return; }
        mosTable(result.mos);
        figures(result.figures);
      }, function (e) {
        // Say so where the table would be, instead of "Loading…" for ever.
        var row = document.createElement("tr");
        row.appendChild(cell("td", "The result could not be loaded (" + e +
          "). Reload the page; if that fails too, press Recompute."));
        document.getElementById("mos-table").tBodies[0].replaceChildren(row);
        throw e;
      })
      .catch(function (e) { console.warn("analysis result failed to load", e); });
  }
})();
