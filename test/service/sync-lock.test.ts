// Locked to the wall clock (design §2c): instances whose cards run off by
// opposite ppm play the same timed stream, and stay together because each
// steers its resampler by its own device clock. Each instance records what
// it played (alsa-lib's file PCM over the clock sink) and when (the sink's
// timeline); markers in the stream say which frame is which.
import t from 'tap';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';
import { markedStream, playedAtNs, pulseFrames, readTimeline } from '../sink-recording';
import { startServer, waitForStatus } from './server-process';

// Two minutes of audio, played in real time by four instances at once.
t.setTimeout(300_000);

const RATE = 48000;
const SECONDS = 120;
const MARK_EVERY = RATE / 2; // a marker every half second
const RAW = `audio/pcm;rate=${RATE};channels=2;format=s16le`;

async function instance(t: Tap.Test, ppm: number) {
  const dir = scratchDir(t);
  const raw = path.join(dir, 'out.raw');
  const timeline = path.join(dir, 'out.tl');
  const server = await startServer(t, {
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: 'rec',
    AUDIO_ALSA_CONFIG: `pcm.rec { type file slave.pcm "clk" file "${raw}" format raw } pcm.clk { type speakerd_clock ppm ${ppm} timeline "${timeline}" }`,
  });
  await waitForStatus(`${server.url}/readyz`, 200);
  return {
    ppm,
    server,
    /** The play time of each marker, ns, after the service has stopped; and the device's xruns before. */
    async markerTimes(): Promise<bigint[]> {
      const device = (await (await fetch(`${server.url}/v1/device`)).json()) as { xruns: number };
      this.xruns = device.xruns;
      server.child.kill('SIGTERM');
      await server.exited;
      const lines = readTimeline(timeline);
      return pulseFrames(raw).map((frame) => playedAtNs(lines, frame, ppm, RATE));
    },
    xruns: -1,
  };
}

// Both pairs at once: four instances, each playing two minutes in real time.
t.test('cards at ±200 and ±500 ppm play one 120 s stream with one at: each pair within 0.5 ms after 5 s', async (t) => {
  const pairs = await Promise.all([200, 500].map(async (ppm) => ({ ppm, fast: await instance(t, ppm), slow: await instance(t, -ppm) })));
  const body = markedStream(SECONDS, MARK_EVERY, RATE);
  // Four 23 MB uploads from this one process: with both cores busy the
  // servers admitted them 0.3-0.6 s before an `at` 1.5 s ahead, and once so
  // late that a device started 25 ms after `at` (late=skip then rightly
  // dropped the first marker). Four seconds leave room for that.
  const at = Date.now() + 4000;
  const instances = pairs.flatMap(({ fast, slow }) => [fast, slow]);
  const answers = await Promise.all(instances.map(async ({ server }) => {
    const response = await fetch(`${server.url}/v1/streams?at=${at}`, { method: 'POST', headers: { 'content-type': RAW }, body });
    return { status: response.status, body: (await response.json()) as { underruns: number; framesSkipped: number } };
  }));
  for (const answer of answers) t.equal(answer.status, 200);
  for (const { ppm, fast, slow } of pairs) {
    const [fastTimes, slowTimes] = await Promise.all([fast.markerTimes(), slow.markerTimes()]);
    // A gap in the feed (the stream's ring ran dry) or in the device's
    // (an xrun) moves what plays after it: counted, so that a failure below says which.
    for (const instance of [fast, slow]) {
      const { body: answer } = answers[instances.indexOf(instance)]!;
      t.same({ underruns: answer.underruns, xruns: instance.xruns }, { underruns: 0, xruns: 0 }, `${instance.ppm > 0 ? '+' : ''}${instance.ppm} ppm: no gaps (frames skipped to stay on time: ${answer.framesSkipped})`);
    }
    t.equal(fastTimes.length, SECONDS * 2, `+${ppm} ppm: every marker recorded`);
    t.equal(slowTimes.length, SECONDS * 2, `-${ppm} ppm: every marker recorded`);
    const apartUs = fastTimes.map((time, i) => Number(time - slowTimes[i]!) / 1000);
    const worst = Math.max(...apartUs.slice(10).map(Math.abs));
    const worstAt = apartUs.slice(10).map(Math.abs).indexOf(worst) + 10;
    t.comment(`±${ppm} ppm: the worst pair, ${worst.toFixed(1)} µs apart, is marker ${worstAt} (${worstAt / 2} s); apart at 10 s steps: ${apartUs.filter((_, i) => i % 20 === 0).map((us) => us.toFixed(1)).join(', ')} µs`);
    // Unlocked, frame k would play k × 2 × ppm / 1e6 / rate apart: 48 ms (±200) or 120 ms (±500) at the end.
    t.ok(worst <= 500, `±${ppm} ppm: after 5 s the markers play at most ${worst.toFixed(1)} µs apart (first 5 s: up to ${Math.max(...apartUs.slice(0, 10).map(Math.abs)).toFixed(1)} µs; unlocked they would end ${(SECONDS * 2 * ppm / 1000).toFixed(0)} ms apart)`);
    // And each on the wall clock: marker i belongs to at + i / 2 s.
    const offUs = [fastTimes, slowTimes].flatMap((times) => times.slice(10).map((time, i) => Math.abs(Number(time - (BigInt(at) * 1_000_000n + BigInt(i + 10) * 500_000_000n)) / 1000)));
    t.ok(Math.max(...offUs) <= 500, `±${ppm} ppm: each marker within ${Math.max(...offUs).toFixed(1)} µs of its wall-clock time after 5 s`);
  }
});
