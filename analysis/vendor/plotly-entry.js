'use strict';
// The plotly.js that the site and the HTML report load: the core (scatter traces, legends,
// colour bars, shapes, annotations, error bars) plus the trace types our figures draw.
// Built into plotly-custom.min.js by build-plotly.sh; add a trace type here if a figure
// needs one (the browser tests fail on a figure plotly.js cannot draw).
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/box'),
    require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/histogram'),
]);

module.exports = Plotly;
