#!/bin/sh
# Rebuilds js/plotly-custom.min.js from plotly-entry.js with the npm packages plotly.js and
# esbuild, in a temporary folder (nothing is installed in the project).
#   analysis/vendor/build-plotly.sh [PLOTLY_JS_VERSION]
# The version must be the plotly.js bundled by the Python plotly package in
# requirements.txt (analysis/tests/test_cli_report.py checks it).
set -eu
VERSION=${1:-4.1.1}
ESBUILD=0.28.2
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm install --ignore-scripts --no-audit --no-fund --silent "plotly.js@$VERSION" "esbuild@$ESBUILD"
cp "$HERE/plotly-entry.js" entry.js
# The map traces' stylesheet that esbuild writes beside the bundle is not needed (no maps).
npx esbuild entry.js --bundle --minify --format=iife --global-name=Plotly --target=es2016 \
  --define:global=window --define:define.amd=false --define:process.env.NODE_DEBUG=false \
  --log-level=warning --outfile=bundle.js
{
  printf '/**\n* plotly.js (custom: bar, box, heatmap, histogram, scatter - minified) v%s\n' "$VERSION"
  printf '* Copyright 2012-2026, Plotly, Inc.\n* All rights reserved.\n* Licensed under the MIT license\n'
  printf '* Built by analysis/vendor/build-plotly.sh from plotly.js@%s (esbuild %s)\n*/\n' "$VERSION" "$ESBUILD"
  cat bundle.js
} > "$HERE/js/plotly-custom.min.js"
echo "wrote $HERE/js/plotly-custom.min.js"
