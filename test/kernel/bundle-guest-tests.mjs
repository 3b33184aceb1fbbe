// Bundles every guest test (test/kernel/guest/*.ts, smoke.ts first) into one
// CommonJS file, deps/kernel/guest-tests.js, that the guest runs with one node
// process: one tap root, one TAP stream (test/kernel/kernel.test.ts).
//
// Why one file, tap included: under TCG every instruction costs 10-20 times
// more and every file read is a 9p round trip. Measured in the guest: node
// itself starts in ~0.6 s; `require('tap')` from node_modules (hundreds of
// files) takes 4-7 s more, tap bundled ~1.2 s. Left unminified: that started
// no slower than whitespace-minified (full minification was slower), and a
// failing test's stack then points at readable lines of the bundle, under
// esbuild's `// test/kernel/guest/NAME.ts` marks. No source map: node
// --enable-source-maps spends ~1.7 s more at start reading it.
//
// The bundle's __dirname is deps/kernel/: helpers find the tree from there by
// walking up to package.json (src/project-root.ts), not by a fixed `..`.
//
// Usage: node test/kernel/bundle-guest-tests.mjs [NAME...]
//   NAMEs (smoke, loopback...) pick some guest tests, for a quicker run;
//   none means all. Prints the bundle's path.
//
// It also builds the guest's helper programs (test/kernel/*.c) into
// deps/kernel/, against the static alsa-lib in deps/: the guest runs this
// machine's binaries, and gcc under emulation would take a while.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const guestDir = path.join(root, 'test/kernel/guest');
const outfile = path.join(root, 'deps/kernel/guest-tests.js');

// tap's packages ship ESM and CommonJS builds. Their ESM builds locate files
// with import.meta.url, which a CommonJS bundle does not have; so resolve
// every package import as a require(), which picks the CommonJS builds.
const commonJsBuilds = {
  name: 'commonjs-builds',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind !== 'import-statement' || args.pluginData?.asRequire) return undefined;
      return build.resolve(args.path, { kind: 'require-call', resolveDir: args.resolveDir, pluginData: { asRequire: true } });
    });
  },
};

const wanted = process.argv.slice(2).map((name) => name.replace(/\.ts$/, ''));
// smoke.ts first: a broken test bed is then the first failure, and it times
// speakerd's start while the guest's caches are still cold.
const order = (name) => (name === 'smoke.ts' ? '' : name);
const files = readdirSync(guestDir)
  .filter((name) => name.endsWith('.ts'))
  .filter((name) => wanted.length === 0 || wanted.includes(name.replace(/\.ts$/, '')))
  .sort((a, b) => order(a).localeCompare(order(b)));
if (files.length === 0 || files.length < wanted.length) {
  throw new Error(`${guestDir} has ${readdirSync(guestDir).join(', ') || 'no test'}; wanted: ${wanted.join(', ') || 'all'}`);
}
await build({
  stdin: {
    contents: files.map((name) => `import './${name}';`).join('\n'),
    resolveDir: guestDir,
    sourcefile: 'guest-tests-entry.ts',
    loader: 'ts',
  },
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // As scripts/bundle.mjs: no "module" condition, the packages' CommonJS builds.
  conditions: [],
  plugins: [commonJsBuilds],
  logLevel: 'warning',
  legalComments: 'none',
});

for (const helper of ['capture-timeline']) {
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', `-I${path.join(root, 'deps/alsa-lib/include')}`,
    '-o', path.join(root, 'deps/kernel', helper), path.join(root, 'test/kernel', `${helper}.c`),
    path.join(root, 'deps/alsa-lib/lib/libasound.a'), '-lm', '-ldl', '-lpthread', '-lrt'], { stdio: ['ignore', 'ignore', 'inherit'] });
}
console.log(path.relative(root, outfile));
