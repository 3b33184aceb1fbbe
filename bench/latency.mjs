// Added latency: from a body's first byte to its first frame committed to
// ALSA, as the service itself measures it on the playback thread's clock
// (the `firstFrameMs` of each "stream played" log line). Streams are sent
// one after the other into the headless clock sink, so each lands at a
// random phase of the period clock; design §8: p99 ≤ 1 period + 2 ms.
//
// Settings (flag or environment variable):
//   --latency-streams / BENCH_LATENCY_STREAMS   streams per period size (200)
import { postAudio } from './lib/http-post.mjs';
import { fixed, row } from './lib/report.mjs';
import { startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';
import { median, percentile } from './lib/stats.mjs';
import { wavBuffer } from './lib/wav.mjs';

export const name = 'latency';

const RATE = 48000;
const PERIOD_SIZES = [256, 1024];
const WARM_UP_STREAMS = 10;
const SLACK_MS = 2;

/** Two periods of the larger size: enough that playback starts on a full period, not on the body's end. */
const BODY = wavBuffer({ rate: RATE, channels: 2, seconds: (2 * Math.max(...PERIOD_SIZES)) / RATE });
const BODY_FRAMES = (BODY.length - 44) / 4;

async function firstFrameMsOf(server, answer) {
  const entry = await server.waitForLog((e) => e.msg === 'stream played' && e.streamId === answer.id, 5000);
  if (typeof entry.firstFrameMs !== 'number') throw new Error(`no firstFrameMs in ${JSON.stringify(entry)}`);
  return entry.firstFrameMs;
}

async function playOne(server) {
  const answer = await postAudio(server.url, { contentType: 'audio/wav', body: BODY });
  if (answer.status !== 200 || answer.json.frames !== BODY_FRAMES) throw new Error(`POST answered ${answer.status} ${JSON.stringify(answer.json)}`);
  return firstFrameMsOf(server, answer.json);
}

async function measure(periodFrames, streams, log) {
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless', AUDIO_PERIOD_FRAMES: String(periodFrames) } });
  try {
    // A service that has been up a while has long compiled its body path.
    for (let i = 0; i < WARM_UP_STREAMS; i++) await playOne(server);
    const samples = [];
    for (let i = 0; i < streams; i++) samples.push(await playOne(server));
    server.assertAlive();
    const periodMs = (periodFrames / RATE) * 1000;
    const result = { periodFrames, periodMs, targetMs: periodMs + SLACK_MS, samples, p50: median(samples), p99: percentile(samples, 99), max: Math.max(...samples) };
    log(`${name}: ${periodFrames}-frame periods: p50 ${fixed(result.p50, 2)} ms, p99 ${fixed(result.p99, 2)} ms, max ${fixed(result.max, 2)} ms`);
    return result;
  } finally {
    await server.stop();
  }
}

export async function run({ log = () => {} } = {}) {
  const streams = positiveInteger('BENCH_LATENCY_STREAMS (--latency-streams)', readSetting({ flag: 'latency-streams', env: 'BENCH_LATENCY_STREAMS' }) ?? 200);
  const results = [];
  for (const periodFrames of PERIOD_SIZES) results.push(await measure(periodFrames, streams, log));
  return {
    rows: results.map((r) =>
      row(
        `first frame, ${r.periodFrames}-frame periods (${fixed(r.periodMs, 2)} ms): p50 / p99 / max of ${streams}`,
        `${fixed(r.p50, 2)} / ${fixed(r.p99, 2)} / ${fixed(r.max, 2)} ms`,
        `p99 ≤ ${fixed(r.targetMs, 2)} ms`,
        r.p99 <= r.targetMs,
      ),
    ),
    note:
      `headless clock sink, 48 kHz stereo, 4 periods; ${streams} POSTs of a ${BODY_FRAMES}-frame WAV (${BODY.length} bytes, one write), one after the other, after ${WARM_UP_STREAMS} unmeasured; figure = firstFrameMs of each "stream played" log line (first body byte → first frame committed, playback thread's clock); p99 nearest-rank`,
    json: { bodyFrames: BODY_FRAMES, warmUpStreams: WARM_UP_STREAMS, slackMs: SLACK_MS, results },
  };
}
