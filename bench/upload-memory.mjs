// Memory against body size: the service takes 100 MiB and 2 GiB uploads over
// HTTP into a file PCM writing /dev/null, unpaced; its RSS after each size
// must be within 2 MiB (design §8: memory does not grow with the body).
// The first uploads grow RSS once (JIT code, malloc arenas, the V8 heap
// settling over the first GiB or two), so one upload of each size warms the
// service up unmeasured; then the sizes alternate, twice each, and the means
// are compared, so that GC timing, which moves single readings by a few MiB,
// does not decide. Each reading waits until speakerd, idle again, has given
// malloc's free pages back (its debug line), as an operator would see it.
import { memoryOf } from './lib/proc.mjs';
import { fixed, row } from './lib/report.mjs';
import { BENCH_PCMS } from './lib/pcms.mjs';
import { startSpeakerd, unpacedDeviceEnv } from './lib/service.mjs';

export const name = 'upload-memory';

const MIB = 1024 * 1024;
const SMALL = 100 * MIB;
const LARGE = 2048 * MIB;
const ROUNDS = 2;
const TARGET_MIB = 2;
const PIECE_BYTES = 64 * 1024;
/** speakerd's debug line once the heap is back (src/engine/engine.ts). */
const isHeapReturn = (entry) => entry.msg === 'idle: free heap returned to the kernel';

/** The `count`-th heap return's line, once logged. */
async function heapReturn(server, count) {
  for (;;) {
    const line = server.logs.filter(isHeapReturn)[count - 1];
    if (line) return line;
    server.assertAlive();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A raw PCM body generated as it is sent: a 64 KiB pattern again and again. */
function generatedBody(bytes) {
  const pattern = new Uint8Array(PIECE_BYTES).map((_, i) => (i * 7919) & 0xff);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const piece = pattern.subarray(0, Math.min(pattern.length, bytes - sent));
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
}

async function upload(url, bytes) {
  const started = process.hrtime.bigint();
  const response = await fetch(`${url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'audio/pcm;rate=48000;channels=2;format=s16le' },
    body: generatedBody(bytes),
    duplex: 'half',
  });
  const result = await response.json();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (response.status !== 200 || result.frames !== bytes / 4) throw new Error(`upload of ${bytes} bytes: ${response.status} ${JSON.stringify(result)}`);
  return seconds;
}

const sizeText = (bytes) => (bytes >= 1024 * MIB ? `${bytes / 1024 / MIB} GiB` : `${bytes / MIB} MiB`);

const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
const readings = (list) => list.map((r) => fixed(r.rssMiB, 1)).join(', ');

export async function run({ log = () => {} } = {}) {
  const pcm = BENCH_PCMS.find((p) => p.label === 'file');
  const server = await startSpeakerd({ env: { ...unpacedDeviceEnv(pcm), LOG_LEVEL: 'debug' } });
  let uploads = 0;
  try {
    const idle = memoryOf(server.pid);
    for (const bytes of [SMALL, LARGE]) {
      log(`${name}: warming up with ${sizeText(bytes)}`);
      await upload(server.url, bytes);
      await heapReturn(server, ++uploads);
    }
    const warm = memoryOf(server.pid);
    const results = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const bytes of [SMALL, LARGE]) {
        log(`${name}: uploading ${sizeText(bytes)}`);
        const seconds = await upload(server.url, bytes);
        const returned = await heapReturn(server, ++uploads);
        results.push({ bytes, seconds, mbPerSecond: bytes / 1e6 / seconds, heldBeforeReturnMiB: returned.rssBeforeMiB, ...memoryOf(server.pid) });
      }
    }
    const small = results.filter((r) => r.bytes === SMALL);
    const large = results.filter((r) => r.bytes === LARGE);
    const growth = mean(large.map((r) => r.rssMiB)) - mean(small.map((r) => r.rssMiB));
    const peak = Math.max(...results.map((r) => r.peakMiB));
    return {
      rows: [
        row(
          `RSS after ${sizeText(SMALL)} / ${sizeText(LARGE)} uploads, alternating, means of ${ROUNDS}`,
          `${fixed(mean(small.map((r) => r.rssMiB)), 1)} / ${fixed(mean(large.map((r) => r.rssMiB)), 1)} MiB (${growth >= 0 ? '+' : ''}${fixed(growth, 1)}; peak ${fixed(peak, 1)})`,
          `within ${TARGET_MIB} MiB`,
          Math.abs(growth) <= TARGET_MIB,
        ),
      ],
      note:
        `the service into a file PCM writing /dev/null, AUDIO_UNDERRUN=wait, idle RSS ${fixed(idle.rssMiB, 1)} MiB, ${fixed(warm.rssMiB, 1)} after the warm-up (one upload of each size); ` +
        `raw S16 stereo 48 kHz bodies POSTed by fetch in 64 KiB pieces (${sizeText(LARGE)} at ${large.map((r) => fixed(r.mbPerSecond, 0)).join(' and ')} MB/s); ` +
        `VmRSS from /proc/PID/status once each answer is in and speakerd has given its free heap back (${results.map((r) => fixed(r.heldBeforeReturnMiB - r.rssMiB, 1)).join(', ')} MiB): after ${sizeText(SMALL)} ${readings(small)}, after ${sizeText(LARGE)} ${readings(large)} MiB`,
      json: { idle, warm, results, growthMiB: growth, targetMiB: TARGET_MIB },
    };
  } finally {
    await server.stop();
  }
}
