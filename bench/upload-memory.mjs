// Memory against body size: the service takes a 100 MiB and then a 2 GiB
// upload over HTTP into a file PCM writing /dev/null, unpaced; its RSS after
// each must be within 2 MiB (design §8: memory does not grow with the body).
import { memoryOf } from './lib/proc.mjs';
import { fixed, row } from './lib/report.mjs';
import { BENCH_PCMS } from './lib/pcms.mjs';
import { startSpeakerd, unpacedDeviceEnv } from './lib/service.mjs';

export const name = 'upload-memory';

const MIB = 1024 * 1024;
const SIZES = [100 * MIB, 2048 * MIB];
const TARGET_MIB = 2;
const PIECE_BYTES = 64 * 1024;

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

export async function run({ log = () => {} } = {}) {
  const pcm = BENCH_PCMS.find((p) => p.label === 'file');
  const server = await startSpeakerd({ env: unpacedDeviceEnv(pcm) });
  try {
    const idle = memoryOf(server.pid);
    const results = [];
    for (const bytes of SIZES) {
      log(`${name}: uploading ${sizeText(bytes)}`);
      const seconds = await upload(server.url, bytes);
      server.assertAlive();
      results.push({ bytes, seconds, mbPerSecond: bytes / 1e6 / seconds, ...memoryOf(server.pid) });
    }
    const [small, large] = results;
    const growth = large.rssMiB - small.rssMiB;
    return {
      rows: [
        row(
          `RSS after a ${sizeText(small.bytes)} / a ${sizeText(large.bytes)} upload`,
          `${fixed(small.rssMiB, 1)} / ${fixed(large.rssMiB, 1)} MiB (${growth >= 0 ? '+' : ''}${fixed(growth, 1)}; peak ${fixed(large.peakMiB, 1)})`,
          `within ${TARGET_MIB} MiB`,
          Math.abs(growth) <= TARGET_MIB,
        ),
      ],
      note:
      `the service into a file PCM writing /dev/null, AUDIO_UNDERRUN=wait, idle RSS ${fixed(idle.rssMiB, 1)} MiB; raw S16 stereo 48 kHz bodies POSTed by fetch in 64 KiB pieces (${results.map((r) => `${sizeText(r.bytes)} at ${fixed(r.mbPerSecond, 0)} MB/s`).join(', ')}); VmRSS from /proc/PID/status once each answer is in`,
      json: { idle, results, growthMiB: growth, targetMiB: TARGET_MIB },
    };
  } finally {
    await server.stop();
  }
}
