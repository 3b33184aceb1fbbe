import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openClockSink, openDevice } from '../../src/engine/native';
import { s16Pattern, scratchDir } from '../pcm-fixtures';

// The sink's clock is CLOCK_MONOTONIC, which process.hrtime reads too. Its
// position is (now - start) * rate * (1 + ppm), and what was committed can be
// neither behind that position (it would be an xrun) nor more than one buffer
// ahead. So each sample below holds exactly, with no tolerance, however
// loaded the machine is: load only widens the window between `before` and
// `after`.
async function checkPacing(t: Tap.Test, seconds: number, ppm: number): Promise<void> {
  const rate = 48000;
  const device = await openClockSink({ rate, channels: 2, periodFrames: 1024, periods: 4, idleMs: 0, ppm });
  t.equal(device.info.access, 'mmap');
  t.equal(device.info.pcm, 'speakerd-clock');
  const { bufferFrames } = device.info;
  const stream = device.createStream();
  const frames = seconds * rate;
  const audio = s16Pattern(frames, 2);

  const samples: { before: bigint; committed: number; after: bigint }[] = [];
  const timer = setInterval(() => {
    const before = process.hrtime.bigint();
    const committed = device.stats().framesCommitted;
    samples.push({ before, committed, after: process.hrtime.bigint() });
  }, 10);
  await stream.writeAll(audio);
  stream.end();
  const result = await stream.finished();
  const ended = process.hrtime.bigint();
  clearInterval(timer);

  t.equal(result.outcome, 'played');
  t.equal(result.frames, frames);
  t.equal(result.underruns, 0);
  t.equal(device.stats().xruns, 0, 'no device xruns: the clock never overtook what was committed');

  // The PCM starts after the first commit, so the clock counts from no earlier than that.
  const ppb = BigInt(Math.round(ppm * 1000));
  const clockFramesSince = (from: bigint, to: bigint) => Number(((to - from) * BigInt(rate) * (1_000_000_000n + ppb)) / 10n ** 18n);
  const firstCommit = BigInt(result.firstCommitNs);
  const ahead = samples.filter((s) => s.committed > clockFramesSince(firstCommit, s.after) + bufferFrames);
  t.same(ahead, [], 'never more than one buffer ahead of the clock: it does not consume faster than its rate');
  // More than a buffer committed means the clock had started: from then on
  // the clock's frames since that sample are a lower bound on the device's
  // position, which the counter trails by at most the commit in progress
  // (at most a buffer).
  const startedBy = samples.find((s) => s.committed > bufferFrames);
  t.ok(startedBy, 'a timer tick saw the sink running');
  const behind = samples.filter((s) => s.before > startedBy!.after && s.committed < frames && s.committed + bufferFrames < clockFramesSince(startedBy!.after, s.before));
  t.same(behind, [], 'never behind the clock: it does not consume slower than its rate');
  t.ok(clockFramesSince(firstCommit, ended) >= frames - bufferFrames, 'the stream ended only once the clock had passed all but one buffer of it');

  const partPlayed = new Set(samples.filter((s) => s.committed > 0 && s.committed < frames).map((s) => s.committed));
  t.ok(partPlayed.size >= 2, `timers ran while it played: ${partPlayed.size} ticks saw it part-played`);
  await device.close();
}

t.test('the clock sink consumes 3 s of audio at its nominal rate, by its own clock, while JS timers keep ticking', (t) => checkPacing(t, 3, 0));

// 5 % over 2 s is 4800 frames, more than the 4096-frame buffer the bounds
// allow: a sink that ignored ppm would break one bound or the other.
for (const ppm of [50_000, -50_000]) {
  t.test(`ppm ${ppm}: the clock sink consumes at its rate × (1 ${ppm > 0 ? '+' : '-'} 5 %), by its own clock`, (t) => checkPacing(t, 2, ppm));
}

interface TimelineLine {
  ns: bigint;
  frames: number;
}

function readTimeline(file: string): TimelineLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [ns, frames] = line.split(' ');
      return { ns: BigInt(ns!), frames: Number(frames) };
    });
}

/** When, after its run started, the sink at `rate` and `ppm` has consumed `frames` (clock_sink.cc's NsFor). */
function nsFor(frames: number, rate: number, ppm: number): bigint {
  return (BigInt(frames) * 10n ** 18n) / (BigInt(rate) * (1_000_000_000n + BigInt(Math.round(ppm * 1000))));
}

/** Checks that every line of a one-run timeline is one period on from the first, at the time the rate and ppm give. */
function checkTimeline(t: Tap.Test, lines: TimelineLine[], period: number, rate: number, ppm: number): void {
  t.equal(lines[0]?.frames, 0, 'the first line is the first frame');
  const wrong = lines.filter((line, i) => line.frames !== i * period || line.ns - lines[0]!.ns !== nsFor(line.frames, rate, ppm));
  t.same(wrong, [], `each of ${lines.length} lines is a period on, at first + frames / (rate × (1 + ${ppm} ppm)), to the ns`);
}

const realtimeNs = () => BigInt(Date.now()) * 1_000_000n;

t.test('AUDIO_CLOCK_TIMELINE: one line per period, CLOCK_REALTIME ns and frames since open, paced by ppm', async (t) => {
  const dir = scratchDir(t);
  const timeline = path.join(dir, 'sink.tl');
  const device = await openClockSink({ rate: 48000, periodFrames: 480, periods: 4, idleMs: 0, ppm: 200, timeline });
  const stream = device.createStream();
  const before = realtimeNs();
  await stream.writeAll(s16Pattern(48000, 2));
  stream.end();
  await stream.finished();
  const after = realtimeNs() + 1_000_000n;
  await device.close();
  const lines = readTimeline(timeline);
  checkTimeline(t, lines, 480, 48000, 200);
  t.ok(lines.length >= 100 - 4, `the second played is in the timeline, less at most a buffer (${lines.length} lines)`);
  t.ok(lines[0]!.ns >= before && lines.at(-1)!.ns <= after, 'the lines fall between the first write and the end, by CLOCK_REALTIME');
});

t.test('type speakerd_clock under a file PCM: the file records what played, and its frame offsets are the timeline\'s counts', async (t) => {
  const dir = scratchDir(t);
  const raw = path.join(dir, 'out.raw');
  const timeline = path.join(dir, 'out.tl');
  const alsaConfig = `pcm.rec { type file slave.pcm "clk" file "${raw}" format raw }
pcm.clk { type speakerd_clock ppm -300 timeline "${timeline}" }`;
  const device = await openDevice({ pcm: 'rec', alsaConfig, rate: 48000, periodFrames: 960, periods: 4, idleMs: 0 });
  t.equal(device.info.card, null, 'a PCM on no card');
  const stream = device.createStream();
  const audio = s16Pattern(30_000, 2, 5);
  await stream.writeAll(audio);
  stream.end();
  t.match(await stream.finished(), { outcome: 'played', frames: 30_000 });
  await device.close();

  const recorded = readFileSync(raw);
  t.ok(recorded.subarray(0, audio.length).equals(audio), 'the file starts with the stream, byte for byte');
  const lines = readTimeline(timeline);
  checkTimeline(t, lines, 960, 48000, -300);
  const fileFrames = recorded.length / 4;
  t.ok(lines.at(-1)!.frames <= fileFrames && fileFrames - lines.at(-1)!.frames < 960 * 5, `the last line (${lines.at(-1)!.frames}) is within the frames written (${fileFrames}), less at most the buffer dropped at close`);
  t.ok(lines.at(-1)!.frames > 30_000 - 960, 'the stream was consumed, to its last period boundary, before it was reported played');
});

t.test('a malformed speakerd_clock definition rejects the open, naming the PCM and the problem', async (t) => {
  const cases: [fields: string, problem: string][] = [
    ['ppm "fast"', 'clk_bad: ppm must be a number from -100000 to 100000'],
    ['ppm 100001', 'clk_bad: ppm must be a number from -100000 to 100000'],
    ['timeline 5', 'clk_bad: timeline must be a file path'],
    ['rate 48000', 'clk_bad: unknown field rate (speakerd_clock takes ppm and timeline)'],
  ];
  for (const [fields, problem] of cases) {
    await t.rejects(openDevice({ pcm: 'clk_bad', alsaConfig: `pcm.clk_bad { type speakerd_clock ${fields} }` }), {
      code: 'E_ALSA_OPEN',
      errno: 22,
      message: 'cannot open PCM "clk_bad": Invalid argument',
      alsaMessages: [`_snd_pcm_speakerd_clock_open: ${problem}`],
    }, fields);
  }
  await t.rejects(openClockSink({ timeline: '/no/such/dir/sink.tl' }), { code: 'E_ALSA_OPEN', errno: 2, message: /^cannot create the clock sink: No such file or directory/ });
  t.throws(() => openClockSink({ ppm: 100_001 }), { code: 'E_INVALID_ARG', message: 'ppm must be a number from -100000 to 100000; got 100001' });
});

// The playback thread fits a line through the device's status reports
// (device_clock.h); against a sink that runs off by a known ppm, its slope
// must find that ppm. The sink's reports are exact to microseconds, so 20 ppm
// is slack for a preempted report or two, and still far from the 500 or 0
// that a wrong fit would give.
for (const ppm of [500, -500]) {
  t.test(`the device clock measures a sink running ${ppm} ppm off as ${ppm} ppm`, async (t) => {
    const device = await openClockSink({ rate: 48000, periodFrames: 1024, periods: 4, idleMs: 0, ppm });
    t.same(device.stats().clock, { locked: false, driftPpm: null, residualUs: null }, 'no line before the device runs');
    const stream = device.createStream();
    const written = stream.writeAll(s16Pattern(3 * 48000, 2));
    let clock = device.stats().clock;
    // Two seconds into the stream, while it still runs.
    while (stream.stats().framesPlayed < 2 * 48000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      clock = device.stats().clock;
    }
    await written;
    stream.end();
    await stream.finished();
    t.equal(clock.locked, true, 'locked while it plays');
    t.ok(Math.abs(clock.driftPpm! - ppm) < 20, `measured ${clock.driftPpm!.toFixed(2)} ppm`);
    t.ok(Math.abs(clock.residualUs!) < 200, `the last report ${clock.residualUs!.toFixed(1)} µs off the line`);
    await device.close();
    t.same(device.stats().clock, { locked: false, driftPpm: null, residualUs: null }, 'none once closed');
  });
}

t.test('one period buffered is enough for the first frame to reach the clock sink', async (t) => {
  const device = await openClockSink({ periodFrames: 256, periods: 4, idleMs: 0 });
  const stream = device.createStream();
  // Exactly one period, and the stream not ended: audio must start anyway.
  t.equal(stream.write(s16Pattern(256, 2)), 256);
  while (stream.stats().firstCommitNs === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  const { firstWriteNs, firstCommitNs } = stream.stats();
  t.ok(firstWriteNs > 0 && firstCommitNs >= firstWriteNs, 'both timestamps are set, the write first');
  stream.end();
  const result = await stream.finished();
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 256);
  await device.close();
});
