// Shared by every page with figures. Two jobs:
// 1. plotly.js (1.5 MB) is fetched and parsed only after the page has painted, so its text,
//    tables, forms and links are usable at once and the figures follow;
// 2. layouts are built in the form plotly.js 3+ reads (title: {text: ...}; a plain string is
//    ignored), so every chart has a title, axis titles with units, and a legend.
// Load with data-plotly="{% plotly_js_url %}", before the page's own script (both defer).
(function () {
  "use strict";
  var plotlyUrl = document.currentScript.dataset.plotly;
  var loading = null;

  function afterPaint(start) {
    // Hidden tabs get no animation frames; they need no paint first either.
    if (document.hidden) { setTimeout(start, 0); return; }
    requestAnimationFrame(function () { setTimeout(start, 0); });
  }

  function plotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        function start() {
          var tag = document.createElement("script");
          tag.src = plotlyUrl;
          tag.onload = function () { resolve(window.Plotly); };
          tag.onerror = function () { reject(new Error("plotly.js could not be loaded")); };
          document.head.appendChild(tag);
        }
        if (document.readyState === "loading") {
          document.addEventListener("DOMContentLoaded", function () { afterPaint(start); });
        } else {
          afterPaint(start);
        }
      });
    }
    return loading;
  }

  function axis(title, extra) {
    return Object.assign({ title: { text: title }, automargin: true }, extra || {});
  }

  // spec: {title, x, y, xaxis?, yaxis?, height?, ...any other layout keys}
  function layout(spec) {
    var out = {
      title: { text: spec.title, x: 0, xanchor: "left" },
      xaxis: axis(spec.x, spec.xaxis),
      yaxis: axis(spec.y, spec.yaxis),
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", xanchor: "left" },
      margin: { t: 80, r: 20 },
      height: spec.height || 340,
    };
    Object.keys(spec).forEach(function (key) {
      if (["title", "x", "y", "xaxis", "yaxis", "height"].indexOf(key) === -1) out[key] = spec[key];
    });
    return out;
  }

  // A figure that cannot be drawn says so where it would have been.
  function failed(id, error) {
    var holder = typeof id === "string" ? document.getElementById(id) : id;
    if (holder) holder.textContent = "The figure could not be drawn (" + error.message + "). Reload the page.";
    console.warn("figure failed", error);
  }

  // Draws figures one task each, so a click or a keypress between two is not kept waiting.
  function drawEach(items, draw) {
    return items.reduce(function (previous, item, index) {
      return previous
        .then(function () { return new Promise(function (resolve) { setTimeout(resolve, 0); }); })
        .then(function () { return draw(item, index); });
    }, Promise.resolve());
  }

  window.Charts = {
    plotly: plotly, layout: layout, failed: failed, drawEach: drawEach,
    config: { responsive: true, displaylogo: false },
  };
})();
