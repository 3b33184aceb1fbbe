// Bundles the service into one file: dist/cli.js, with every module of
// speakerd and every package it loads (Fastify, pino, OpenTelemetry...),
// written over tsc's dist/cli.js. Run after tsc (npm run build).
//
// Why: start-up (design §8: ≤ 300 ms to /healthz 200) is mostly spent
// finding, reading and compiling modules. @opentelemetry/sdk-node alone
// requires every exporter it knows (gRPC, Zipkin, the logs SDK...), about
// 480 modules, and its require hook then slows every later require of the
// service; one file has none of those lookups. docs/decisions.md
// ("Build") has the figures.
//
// What stays outside, loaded at run time:
// - Node's built-in modules, so that the HTTP instrumentation, which hooks
//   require(), still patches node:http before Fastify takes it (cli.ts
//   starts the SDK before it requires ./main, and esbuild keeps those
//   requires where they are, inside the function).
// - The native addon, loaded by path from the project root (project-root.ts).
// - @grpc/grpc-js (with protobufjs, a fifth of the bundle): only sdk-node's
//   OTLP/gRPC exporters load it, when one is made, and speakerd makes none
//   (it exports OTLP over HTTP; telemetry/sdk.ts). In one file it would still
//   be parsed at every start; outside, it stays in node_modules unread.
//
// The rest of dist/ stays as tsc wrote it: the package's main entry
// (dist/engine/native.js) and the tests load modules from there.
import { build } from 'esbuild';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Same place as the entry, so that the bundle's __dirname is still dist/.
const file = path.join(root, 'dist/cli.js');
await build({
  entryPoints: [file],
  outfile: file,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // The packages' CommonJS builds, the ones Node loads from dist/ unbundled
  // (and the tests from src/): no "module" condition, which esbuild would
  // otherwise add and which picks the ESM builds of the OpenTelemetry packages.
  conditions: [],
  external: ['@grpc/grpc-js'],
  // Whitespace only (names stay, so stack traces still name functions): a
  // third less to parse at every start (3.8 → 2.6 MB, ~5 ms here) and to
  // carry in the image. The map leads back to src/*.ts through tsc's maps,
  // with node --enable-source-maps; the image leaves it out.
  minifyWhitespace: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  legalComments: 'none',
});
const size = (name) => `${(statSync(name).size / 1e6).toFixed(1)} MB`;
console.log(`bundle: ${path.relative(root, file)} ${size(file)} (map ${size(`${file}.map`)})`);
