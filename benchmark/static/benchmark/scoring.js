// Scoring job page: polls the job's status JSON while it runs (progress bar), reloads once
// it ends so the server renders the table; then sorts the table by a clicked column.
(function () {
  "use strict";
  var root = document.getElementById("scoring");
  if (root && !root.dataset.finished) {
    var poll = function () {
      fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          if (data.finished) { window.location.reload(); return; }
          root.querySelector('[data-field="status"]').textContent = data.status_display;
          var p = data.progress || {};
          root.querySelector('[data-field="progress"]').textContent =
            p.phase ? p.phase + " " + p.done + " of " + p.total : "";
          var bar = root.querySelector('[data-field="bar"]');
          if (bar) bar.value = p.fraction || 0;
          setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    poll();
  }

  var table = document.getElementById("scores-table");
  if (!table) return;
  var headers = table.querySelectorAll("th[data-sort]");
  headers.forEach(function (th) {
    th.dataset.label = th.textContent;
    th.style.cursor = "pointer";
    th.title = "sort";
    th.addEventListener("click", function () {
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.dataset.sort === "number";
      var descending = th.getAttribute("aria-sort") === "ascending";
      headers.forEach(function (h) {
        h.removeAttribute("aria-sort");
        h.textContent = h.dataset.label || h.textContent;
      });
      th.dataset.label = th.dataset.label || th.textContent;
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      th.textContent = th.dataset.label + (descending ? " ▼" : " ▲");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[index];
        if (!numeric) return cell.textContent.trim().toLowerCase();
        var v = cell.dataset.value;
        return v === "" ? null : Number(v);
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) return 0;
        if (x === null) return 1;  // unscored images last either way
        if (y === null) return -1;
        return (x < y ? -1 : 1) * (descending ? -1 : 1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
