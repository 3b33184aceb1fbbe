// Loaded into the service under test (node --require, through NODE_OPTIONS)
// by the compressed bench. speakerd exports no event-loop delay, and a
// /livez answer time also holds the prober's own scheduling and a TCP
// handshake; this measures the loop itself with Node's monitorEventLoopDelay:
// a native timer every 10 ms. Node records the whole interval between two
// firings (10.1 ms on an idle loop), so the 10 ms are taken off: what is left
// is how late the loop ran the timer. On SIGUSR2 the histogram since the last
// SIGUSR2 is written to LOOP_DELAY_FILE (JSON, ms; through a rename, so that
// a reader never sees half of it) and a new one starts. speakerd itself does
// not use SIGUSR2.
'use strict';
const fs = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const RESOLUTION_MS = 10;

const file = process.env.LOOP_DELAY_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  process.on('SIGUSR2', () => {
    const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    const summary = { count: histogram.count, p50Ms: ms(histogram.percentile(50)), p99Ms: ms(histogram.percentile(99)), maxMs: ms(histogram.max) };
    histogram.reset();
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(summary));
    fs.renameSync(`${file}.tmp`, file);
  });
}
