// Peak memory with a full house: MAX_STREAMS (8) paced streams playing at
// once into the headless clock sink. The figure is the service's VmHWM, its
// resident high-water mark since it started, so no short peak between two
// samples is missed; design §8: ≤ 80 MiB. Measured again with
// OTEL_SDK_DISABLED=true, to show what the OpenTelemetry SDK costs, and next
// to the idle RSS of a bare Fastify hello-world run the same way: the floor
// of any Fastify service on this Node.
//
// Settings (flag or environment variable):
//   --memory-seconds / BENCH_MEMORY_SECONDS   length of each stream (10)
import { playConcurrently } from './lib/paced-streams.mjs';
import { memoryOf, sampleRss } from './lib/proc.mjs';
import { fixed, row } from './lib/report.mjs';
import { HELLO_FASTIFY, SHIPPED_PROCESS_ENV, startPeer, startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';

export const name = 'memory';

const STREAMS = 8;
const TARGET_MIB = 80;

async function measure(env, seconds) {
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless', ...env } });
  try {
    const idle = memoryOf(server.pid);
    const stopSampling = sampleRss(server.pid);
    await playConcurrently(server.url, { count: STREAMS, seconds });
    const highestSampledMiB = stopSampling();
    server.assertAlive();
    return { idle, after: memoryOf(server.pid), highestSampledMiB };
  } finally {
    await server.stop();
  }
}

async function measurePeer() {
  const peer = await startPeer(HELLO_FASTIFY, { env: SHIPPED_PROCESS_ENV });
  try {
    return memoryOf(peer.pid);
  } finally {
    await peer.stop();
  }
}

const figure = (r) => `${fixed(r.after.peakMiB, 1)} MiB (idle ${fixed(r.idle.rssMiB, 1)}, after ${fixed(r.after.rssMiB, 1)})`;

export async function run({ log = () => {} } = {}) {
  const seconds = positiveInteger('BENCH_MEMORY_SECONDS (--memory-seconds)', readSetting({ flag: 'memory-seconds', env: 'BENCH_MEMORY_SECONDS' }) ?? 10);
  const shipped = await measure({}, seconds);
  const otelOff = await measure({ OTEL_SDK_DISABLED: 'true' }, seconds);
  const peer = await measurePeer();
  log(`${name}: peak ${figure(shipped)}; with OTEL_SDK_DISABLED=true ${figure(otelOff)}`);
  return {
    rows: [
      row(`peak RSS (VmHWM), ${STREAMS} streams playing`, figure(shipped), `≤ ${TARGET_MIB} MiB`, shipped.after.peakMiB <= TARGET_MIB),
      row('the same with OTEL_SDK_DISABLED=true', figure(otelOff)),
      row('bare Fastify hello-world, idle, same way', `${fixed(peer.rssMiB, 1)} MiB; speakerd's peak is ${fixed(shipped.after.peakMiB - peer.rssMiB, 1)} MiB above it`),
    ],
    note:
      `headless, 1024-frame periods; ${STREAMS} concurrent POSTs of ${seconds} s stereo 48 kHz WAV, generated as sent; VmHWM from /proc/PID/status after the last answer (RSS sampled every 50 ms meanwhile peaked at ${fixed(shipped.highestSampledMiB, 1)} and ${fixed(otelOff.highestSampledMiB, 1)} MiB)`,
    json: { streams: STREAMS, seconds, targetMiB: TARGET_MIB, shipped, otelOff, helloFastifyIdle: peer },
  };
}
