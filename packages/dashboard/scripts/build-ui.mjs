// Bundles the page's script (with uPlot) and its styles into dist/ui, which the server reads at start.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url);
const out = new URL('dist/ui/', root);
await mkdir(out, { recursive: true });
await build({
  entryPoints: [new URL('src/ui/main.ts', root).pathname],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  outfile: new URL('app.js', out).pathname,
  logLevel: 'warning',
});
const require = createRequire(import.meta.url);
const uplotCss = await readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
const ownCss = await readFile(new URL('src/ui/app.css', root), 'utf8');
await writeFile(new URL('app.css', out), `${uplotCss}\n${ownCss}`);
