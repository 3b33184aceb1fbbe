// Memory against body size: the real service (as `npm start` runs it) takes
// a 100 MiB and then a 2 GiB upload over HTTP into a file PCM writing
// /dev/null, unpaced; its RSS after each must be within 2 MiB (design §8).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const name = 'upload-memory';

const MIB = 1024 * 1024;
const TARGET_MIB = 2;
const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

const COLUMNS = [
  { key: 'pcm', title: 'PCM' },
  { key: 'tool', title: 'tool' },
  { key: 'mbPerSecond', title: 'MB/s', align: 'right' },
  { key: 'upload', title: 'upload', align: 'right' },
  { key: 'rss', title: 'RSS after (MiB)', align: 'right' },
  { key: 'peak', title: 'peak RSS (MiB)', align: 'right' },
];

function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

async function startService() {
  const child = spawn(process.execPath, ['--max-semi-space-size=1', cli, 'serve'], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      AUDIO_MODE: 'device',
      AUDIO_DEVICE: 'sink',
      AUDIO_ALSA_CONFIG: 'pcm.sink { type file slave.pcm null file "/dev/null" format raw }',
      AUDIO_UNDERRUN: 'wait',
      MAX_STREAM_SECONDS: '86400',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /"msg":"Server listening at (http:[^"]+)"/.exec(line);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`speakerd exited with ${code} before listening`)));
  });
  for (;;) {
    if ((await fetch(`${url}/healthz`)).status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, url };
}

/** A raw PCM body generated as it is sent: a 64 KiB pattern again and again. */
function generatedBody(bytes) {
  const pattern = new Uint8Array(64 * 1024).map((_, i) => (i * 7919) & 0xff);
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

export async function run({ log = () => {} } = {}) {
  const { child, url } = await startService();
  try {
    const idle = memoryOf(child.pid);
    const sizes = [100 * MIB, 2048 * MIB];
    const results = [];
    for (const bytes of sizes) {
      log(`${name}: uploading ${bytes / MIB} MiB`);
      const seconds = await upload(url, bytes);
      results.push({ bytes, seconds, mbPerSecond: bytes / 1e6 / seconds, ...memoryOf(child.pid) });
    }
    const growth = results[1].rssMiB - results[0].rssMiB;
    return {
      columns: COLUMNS,
      rows: results.map((r) => ({
        pcm: 'file',
        tool: 'speakerd',
        mbPerSecond: r.mbPerSecond.toFixed(0),
        upload: r.bytes >= 1024 * MIB ? `${r.bytes / 1024 / MIB} GiB` : `${r.bytes / MIB} MiB`,
        rss: r.rssMiB.toFixed(1),
        peak: r.peakMiB.toFixed(1),
      })),
      notes: [
        `service: node --max-semi-space-size=1 dist/cli.js serve, idle RSS ${idle.rssMiB.toFixed(1)} MiB; raw S16 stereo 48 kHz bodies over HTTP on loopback (fetch, 64 KiB pieces), file PCM → /dev/null, underrun 'wait'`,
        `RSS after 2 GiB − RSS after 100 MiB = ${growth.toFixed(1)} MiB: target ≤ ${TARGET_MIB} MiB ${Math.abs(growth) <= TARGET_MIB ? 'met' : 'MISSED'}`,
      ],
      json: { idle, results, growthMiB: growth, targetMiB: TARGET_MIB },
    };
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}
