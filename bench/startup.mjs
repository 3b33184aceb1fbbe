// Start-up: from spawning the process to the first 200 from /healthz, in
// headless mode (design §8: ≤ 300 ms), next to the same service with
// OpenTelemetry off (what the SDK costs) and a bare Fastify hello-world
// started the same way; alternating, medians of 20.
//
// Settings (flag or environment variable):
//   --starts / BENCH_STARTS   starts of each (20)
import { spawnTracked, stopTracked } from './lib/children.mjs';
import { fixed, row } from './lib/report.mjs';
import { HELLO_FASTIFY, NODE_FLAGS, SPEAKERD_CLI, followLog, waitFor200 } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';
import { median } from './lib/stats.mjs';

export const name = 'startup';

const TARGET_MS = 300;
const SERVICES = {
  speakerd: { args: [SPEAKERD_CLI, 'serve'], env: { AUDIO_MODE: 'headless' } },
  'speakerd-otel-off': { args: [SPEAKERD_CLI, 'serve'], env: { AUDIO_MODE: 'headless', OTEL_SDK_DISABLED: 'true' } },
  'hello-fastify': { args: [HELLO_FASTIFY], env: {} },
};

/** Spawn → first /healthz 200, in ms. The port is only known from the log, so /healthz is polled (every 2 ms) from there. */
async function timeStart(service) {
  const started = process.hrtime.bigint();
  const child = spawnTracked(process.execPath, [...NODE_FLAGS, ...service.args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...service.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await followLog(child).url;
    await waitFor200(`${url}/healthz`, { everyMs: 2 });
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    await stopTracked(child, { signal: 'SIGKILL' });
  }
}

export async function run({ log = () => {} } = {}) {
  const starts = positiveInteger('BENCH_STARTS (--starts)', readSetting({ flag: 'starts', env: 'BENCH_STARTS' }) ?? 20);
  const samples = Object.fromEntries(Object.keys(SERVICES).map((label) => [label, []]));
  // One unmeasured start of each: the first pays for reading the files from disk.
  for (const service of Object.values(SERVICES)) await timeStart(service);
  for (let i = 0; i < starts; i++) {
    for (const [label, service] of Object.entries(SERVICES)) samples[label].push(await timeStart(service));
  }
  const speakerd = median(samples.speakerd);
  const otelOff = median(samples['speakerd-otel-off']);
  const hello = median(samples['hello-fastify']);
  log(`${name}: speakerd ${fixed(speakerd, 0)} ms, with OTEL_SDK_DISABLED=true ${fixed(otelOff, 0)} ms, hello-fastify ${fixed(hello, 0)} ms`);
  const spread = (values) => `${fixed(Math.min(...values), 0)}–${fixed(Math.max(...values), 0)}`;
  return {
    rows: [
      row(`speakerd headless: spawn → /healthz 200, median of ${starts}`, `${fixed(speakerd, 0)} ms (${spread(samples.speakerd)}); ${fixed(speakerd / hello, 2)}× hello-fastify`, `≤ ${TARGET_MS} ms`, speakerd <= TARGET_MS),
      row(`the same with OTEL_SDK_DISABLED=true`, `${fixed(otelOff, 0)} ms (${spread(samples['speakerd-otel-off'])}); ${fixed(otelOff / hello, 2)}× hello-fastify`),
      row(`bare Fastify hello-world, same way, median of ${starts}`, `${fixed(hello, 0)} ms (${spread(samples['hello-fastify'])})`),
    ],
    note:
      `node ${NODE_FLAGS.join(' ')} dist/cli.js serve (AUDIO_MODE=headless; then also OTEL_SDK_DISABLED=true) and node ${NODE_FLAGS.join(' ')} bench/lib/hello-fastify.cjs (Fastify with logger: true and a /healthz route), alternating, after one unmeasured start of each; timed from spawn() to the first 200, /healthz polled every 2 ms once the "Server listening" line gives the port`,
    json: { starts, targetMs: TARGET_MS, medianMs: { speakerd, speakerdOtelOff: otelOff, helloFastify: hello }, ratio: speakerd / hello, samples },
  };
}
