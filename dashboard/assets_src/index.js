// The plotly.js the dashboard serves: the core (which always holds `scatter`) and only the
// trace types the dashboard draws. Built by build.mjs into ../vendor/plotly-aquaembed.min.js.
'use strict';

var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/scattergl'), // the embedding map
    require('plotly.js/lib/heatmap'), // the confusion matrix
    require('plotly.js/lib/bar'), // COCO numbers and the selection mixes
]);

module.exports = Plotly;
