// Preloaded into speakerd (NODE_OPTIONS=--require) by the tests that bound
// its RSS (server-process.ts's withGcOnSignal): SIGUSR2 runs V8's full
// garbage collection, then says so on stderr. An RSS reading after it
// counts what speakerd keeps, not the garbage V8 had not yet collected: V8
// runs its major GC at no fixed point, and one CI run's RSS over loss
// cycles still climbed 3.9 MiB to the plateau that others reached within
// the warm-up. Plain CommonJS, so that it loads without the tests'
// TypeScript loader.
'use strict';
const { setFlagsFromString } = require('node:v8');
const { runInNewContext } = require('node:vm');

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc');
let collections = 0;
process.on('SIGUSR2', () => {
  collectGarbage();
  collections += 1;
  process.stderr.write(`gc-on-signal: ${collections}\n`);
});
