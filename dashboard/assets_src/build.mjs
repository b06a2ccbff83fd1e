// Build the partial plotly.js bundle the dashboard serves instead of the full 4.8 MB plotly.min.js.
//
//   cd dashboard/assets_src && npm ci && npm run build
//
// The options follow plotly.js's own esbuild-config.js (same aliases and defines), minus its
// CSS and GLSL plugins: the traces bundled here import no shader source and no stylesheet
// (the only stylesheet import, maplibre's, belongs to the map traces left out).
import { build } from 'esbuild';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const version = JSON.parse(readFileSync(require.resolve('plotly.js/package.json'), 'utf8')).version;
const outfile = new URL('../vendor/plotly-aquaembed.min.js', import.meta.url).pathname;

await build({
    entryPoints: [new URL('./index.js', import.meta.url).pathname],
    outfile,
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    legalComments: 'eof',
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false', 'process.env.NODE_DEBUG': 'false' },
    loader: { '.css': 'empty' },
    banner: { js: `/* plotly.js ${version} (MIT), partial bundle: scatter, scattergl, heatmap, bar; built by aquaembed dashboard/assets_src */` },
    target: 'es2016',
    logLevel: 'info',
});
console.log(`${outfile}: ${(statSync(outfile).size / 1e6).toFixed(2)} MB (plotly.js ${version})`);
