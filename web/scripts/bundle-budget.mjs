// After `vite build`: gzips every text file in dist/ (the server sends the .gz to browsers that
// accept gzip), prints each JavaScript chunk's size, and fails when the JavaScript that
// index.html loads up front (its entry script and the chunks it preloads) exceeds the budget.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const DIST = new URL('../dist/', import.meta.url).pathname;
const BUDGET_KB = 400;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const sizes = new Map();
for (const path of files(DIST)) {
  if (!/\.(js|css|html|svg|json)$/.test(path)) continue;
  const gz = gzipSync(readFileSync(path), { level: 9 });
  writeFileSync(`${path}.gz`, gz);
  sizes.set('/' + relative(DIST, path), gz.length);
}

const html = readFileSync(join(DIST, 'index.html'), 'utf8');
const initial = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="([^"]+\.js)"/g)].map((m) => m[1]);
if (initial.length === 0) throw new Error('index.html loads no script: the build is broken');
const kb = (n) => (n / 1024).toFixed(1);
let total = 0;
console.log('initial JavaScript (gzipped):');
for (const f of initial) {
  const n = sizes.get(f);
  if (n === undefined) throw new Error(`index.html loads ${f}, which is not in dist/`);
  total += n;
  console.log(`  ${f}  ${kb(n)} KB`);
}
const lazy = [...sizes].filter(([f]) => f.endsWith('.js') && !initial.includes(f));
console.log(`lazily loaded chunks: ${lazy.length}, ${kb(lazy.reduce((s, [, n]) => s + n, 0))} KB gzipped in all`);
for (const [f, n] of lazy.sort((a, b) => b[1] - a[1])) console.log(`  ${f}  ${kb(n)} KB`);
console.log(`initial JavaScript: ${kb(total)} KB gzipped (budget ${BUDGET_KB} KB)`);
if (total > BUDGET_KB * 1024) {
  console.error(`error: the initial JavaScript is ${kb(total)} KB gzipped, over the ${BUDGET_KB} KB budget`);
  process.exit(1);
}
