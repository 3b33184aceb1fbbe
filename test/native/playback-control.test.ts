// Playback control in the playback thread (design §2b), measured exactly
// through alsa-lib's file PCM under the wait policy, where the recording is
// exactly what was mixed: ducking by a higher class, pre-emption by an alarm,
// queues, a client's gain and pause, cuts and a capped end that fade, and the
// software master volume. Signals are stereo with one source per channel, so
// that each channel's samples are one stream's level times its audio.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import path from 'node:path';
import { openDevice, type Device, type PlaybackFormat, type Stream } from '../../src/engine/native';
import { filePcmConfig, noise, roundHalfToEven, s16Channel, s16Stereo, scratchDir } from '../pcm-fixtures';

const RATE = 48000;
const FADE = (20 * RATE) / 1000; // AUDIO_FADE_MS and the gain ramp: 960 frames
const DUCK_RAMP = (50 * RATE) / 1000; // AUDIO_DUCK_RAMP_MS: 2400 frames
const LEVEL = 16000;
const zero = () => 0;
const level = () => LEVEL;

async function recorder(t: Tap.Test, options: PlaybackFormat = {}) {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), underrun: 'wait', periodFrames: 256, ...options });
  return {
    device,
    /** Closes the device and returns the left and right channels recorded, and the bytes. */
    async recorded(): Promise<[Int16Array, Int16Array, Buffer]> {
      await device.close();
      const written = readFileSync(out);
      return [s16Channel(written, 2, 0), s16Channel(written, 2, 1), written];
    },
  };
}

/** Waits until the thread has mixed exactly `frames` of the stream: it then waits for more, which no test gives it before this returns. */
async function playedUpTo(stream: Stream, frames: number): Promise<void> {
  while (stream.stats().framesPlayed < frames) await nextTurn();
}

/** A stream of zeros that holds the wait policy's mix at `frames`: nothing plays past it until end(). */
async function gate(device: Device, frames: number): Promise<Stream> {
  const stream = device.createStream();
  await stream.writeAll(s16Stereo(frames, zero, zero));
  return stream;
}

function slice(samples: Int16Array, from: number, to = samples.length): number[] {
  return Array.from(samples.subarray(from, to));
}

function maxStep(samples: Int16Array, from: number, to: number): number {
  let max = 0;
  for (let i = from + 1; i < to; i++) max = Math.max(max, Math.abs(samples[i]! - samples[i - 1]!));
  return max;
}

/**
 * The frames of a linear move of `value` from gain a to gain b over n frames
 * (gain_ramp.h): a + (b − a)·k/n, k = 1…n, as the engine computes it: the
 * gain a float, the product a float, rounded half to even.
 */
function ramp(value: (k: number) => number, a: number, b: number, n: number): number[] {
  const [from, to] = [Math.fround(a), Math.fround(b)];
  return Array.from({ length: n }, (_, i) => roundHalfToEven(Math.fround(value(i) * Math.fround(from + ((to - from) * (i + 1)) / n))));
}

function db(ratio: number): number {
  return 20 * Math.log10(ratio);
}

t.test('an announcement over music ducks the music by exactly the duck for its length, with 50 ms ramps', async (t) => {
  const { device, recorded } = await recorder(t);
  const music = device.createStream({ priority: 'normal' });
  const events: string[] = [];
  for (const name of ['ducked', 'unducked', 'started']) music.on(name, () => events.push(`music ${name}`));
  await music.writeAll(s16Stereo(30_000, level, zero));
  await playedUpTo(music, 30_000);
  const announcement = device.createStream({ priority: 'announcement' });
  announcement.on('started', () => events.push('announcement started'));
  await announcement.writeAll(s16Stereo(24_000, zero, level));
  announcement.end();
  await music.writeAll(s16Stereo(66_000, level, zero));
  music.end();
  const [musicEnd, announcementEnd] = await Promise.all([music.finished(), announcement.finished()]);
  const [left, right] = await recorded();

  t.equal(left.length, 96_000, 'the output is exactly as long as the music');
  t.equal(musicEnd.frames, 96_000);
  t.equal(announcementEnd.frames, 24_000);
  t.same(slice(right, 30_000, 54_000), new Array(24_000).fill(LEVEL), 'the announcement, unaltered, from the frame the music was at');
  t.equal(right.subarray(0, 30_000).some((v) => v !== 0) || right.subarray(54_000).some((v) => v !== 0), false, 'and nowhere else');

  const ducked = Math.round(LEVEL * 0.1);
  t.same(slice(left, 0, 30_000), new Array(30_000).fill(LEVEL), 'the music is untouched before');
  t.same(slice(left, 30_000, 30_000 + DUCK_RAMP), ramp(level, 1, 0.1, DUCK_RAMP), 'ramps down over AUDIO_DUCK_RAMP_MS from the announcement\'s first frame');
  t.same(slice(left, 30_000 + DUCK_RAMP, 54_000), new Array(54_000 - 30_000 - DUCK_RAMP).fill(ducked), 'stays ducked while it plays');
  t.same(slice(left, 54_000, 54_000 + DUCK_RAMP), ramp(level, 0.1, 1, DUCK_RAMP), 'ramps back up from the frame after its last');
  t.same(slice(left, 54_000 + DUCK_RAMP), new Array(96_000 - 54_000 - DUCK_RAMP).fill(LEVEL), 'and is untouched after');
  t.ok(Math.abs(db(ducked / LEVEL) - -20) <= 0.5, `ducked by ${db(ducked / LEVEL).toFixed(3)} dB (AUDIO_DUCK_DB -20 ± 0.5)`);
  t.ok(maxStep(left, 29_999, 56_401) <= Math.ceil((LEVEL * 0.9) / DUCK_RAMP) + 1, `no step larger than the ramp's slope (${maxStep(left, 29_999, 56_401)})`);
  t.ok(Math.max(...left.map(Math.abs)) <= LEVEL, 'nothing louder than the music alone');
  t.same(events.filter((event) => event.startsWith('music')), ['music started', 'music ducked', 'music unducked']);
  t.ok(events.includes('announcement started'));
  t.ok(musicEnd.duckedMs > 0, `the music spent ${musicEnd.duckedMs.toFixed(1)} ms ducked`);
  t.equal(announcementEnd.duckedMs, 0);
});

t.test('a background stream is ducked by a normal one; the same class mixes plainly', async (t) => {
  const { device, recorded } = await recorder(t, { channels: 2 });
  const background = device.createStream({ priority: 'background' });
  const normal = device.createStream({ priority: 'normal' });
  const other = device.createStream({ priority: 'normal' });
  // All three start together (the wait policy starts streams created together together).
  await Promise.all([background.writeAll(s16Stereo(4800, level, zero)), normal.writeAll(s16Stereo(4800, zero, () => 1000)), other.writeAll(s16Stereo(4800, zero, () => 2000))]);
  for (const stream of [background, normal, other]) stream.end();
  await Promise.all([background.finished(), normal.finished(), other.finished()]);
  const [left, right] = await recorded();
  t.same(slice(right), new Array(4800).fill(3000), 'two normal streams sum, neither ducked');
  t.same(slice(left), new Array(4800).fill(Math.round(LEVEL * 0.1)), 'the background stream starts ducked: no ramp before its first frame');
});

t.test('an alarm pauses the music, which resumes exactly where it left off', async (t) => {
  const { device, recorded } = await recorder(t);
  const signal = noise(7);
  const music = device.createStream();
  const events: string[] = [];
  for (const name of ['paused', 'resumed']) music.on(name, () => events.push(`music ${name}`));
  const hold = await gate(device, 30_000);
  await music.writeAll(s16Stereo(60_000, signal, zero));
  await playedUpTo(music, 30_000);
  const alarm = device.createStream({ priority: 'alarm' });
  alarm.on('started', () => events.push('alarm started'));
  await alarm.writeAll(s16Stereo(24_000, zero, level));
  alarm.end();
  hold.end();
  await music.writeAll(s16Stereo(36_000, (i) => signal(60_000 + i), zero));
  music.end();
  const [musicEnd] = await Promise.all([music.finished(), alarm.finished(), hold.finished()]);
  const [left, right] = await recorded();

  const paused = 30_000 + FADE; // the music's frame where it paused
  const resumed = 54_000; // the alarm's last frame + 1
  t.equal(musicEnd.frames, 96_000, 'every frame of the music played');
  t.equal(left.length, 96_000 + (resumed - paused), 'the output is the music plus the time it was paused');
  t.same(slice(right, 30_000, resumed), new Array(24_000).fill(LEVEL), 'the alarm, unaltered');
  t.same(slice(left, 0, 30_000), Array.from({ length: 30_000 }, (_, i) => signal(i)), 'the music before, bit-exact');
  t.same(slice(left, 30_000, paused), ramp((i) => signal(30_000 + i), 1, 0, FADE), 'fades out over AUDIO_FADE_MS');
  const under = left.subarray(paused, resumed);
  t.equal(Math.max(...under.map(Math.abs)), 0, 'absent under the alarm (below -60 dB: digital silence)');
  t.same(slice(left, resumed, resumed + FADE), ramp((i) => signal(paused + i), 0, 1, FADE), 'fades back in from the frame where it paused');
  t.same(slice(left, resumed + FADE), Array.from({ length: 96_000 - paused - FADE }, (_, i) => signal(paused + FADE + i)), 'then continues bit-exact to its end');
  t.same(events.filter((event) => event.startsWith('music')), ['music paused', 'music resumed']);
  t.ok(events.includes('alarm started'));
  t.ok(musicEnd.pausedMs > 0, `paused for ${musicEnd.pausedMs.toFixed(1)} ms`);
});

t.test('a queue plays back to back: the output is the sources concatenated', async (t) => {
  const { device, recorded } = await recorder(t);
  const lengths = [7000, 300, 12_000, 5, 4096];
  const sources = lengths.map((frames, n) => s16Stereo(frames, noise(100 + n), noise(200 + n)));
  const streams: Stream[] = [];
  for (let n = 0; n < sources.length; n++) streams.push(device.createStream(n > 0 ? { follows: streams[n - 1]! } : {}));
  const order: number[] = [];
  streams.forEach((stream, n) => stream.on('started', () => order.push(n)));
  // Written last first: a stream waiting for its predecessor holds nothing back.
  for (let n = sources.length - 1; n >= 0; n--) {
    await streams[n]!.writeAll(sources[n]!);
    streams[n]!.end();
  }
  const results = await Promise.all(streams.map((stream) => stream.finished()));
  const [, , written] = await recorded();
  t.same(results.map((result) => result.frames), lengths);
  t.ok(written.equals(Buffer.concat(sources)), 'the recording is the five sources, back to back, bit-exact');
  t.same(order, [0, 1, 2, 3, 4], 'each started after the one it follows');
});

t.test("a client's gain ramps over 20 ms with no step steeper than the ramp", async (t) => {
  const { device, recorded } = await recorder(t);
  const stream = device.createStream({ gain: 0.5 });
  await stream.writeAll(s16Stereo(30_000, level, zero));
  await playedUpTo(stream, 30_000);
  stream.setGain(1.25);
  await stream.writeAll(s16Stereo(30_000, level, zero));
  stream.end();
  await stream.finished();
  const [left] = await recorded();
  t.same(slice(left, 0, 30_000), new Array(30_000).fill(LEVEL / 2), 'the initial gain from the first frame');
  t.same(slice(left, 30_000, 30_000 + FADE), ramp(level, 0.5, 1.25, FADE), 'a straight ramp over 960 frames');
  t.same(slice(left, 30_000 + FADE), new Array(30_000 - FADE).fill(LEVEL * 1.25), 'then the new gain');
  t.ok(maxStep(left, 29_999, 30_000 + FADE) <= Math.ceil((LEVEL * 0.75) / FADE) + 1, `largest step ${maxStep(left, 29_999, 30_000 + FADE)}`);
});

t.test("a client's pause fades out, holds the stream's place, and resumes from it; a paused stream holds nothing back", async (t) => {
  const { device, recorded } = await recorder(t);
  const signal = noise(11);
  const music = device.createStream();
  const hold = await gate(device, 30_000);
  await music.writeAll(s16Stereo(40_000, signal, zero));
  await playedUpTo(music, 30_000);
  music.setPaused(true);
  const voice = device.createStream();
  await voice.writeAll(s16Stereo(10_000, zero, level));
  voice.end();
  hold.end();
  await voice.finished();
  t.equal(music.stats().paused, true, 'listed as paused');
  music.setPaused(false);
  music.end();
  const musicEnd = await music.finished();
  const [left, right] = await recorded();
  const paused = 30_000 + FADE;
  t.equal(musicEnd.frames, 40_000);
  t.equal(left.length, 40_000 + 10_000 - FADE, 'the other stream played alone meanwhile; nothing else was added');
  t.same(slice(right, 30_000, 40_000), new Array(10_000).fill(LEVEL));
  t.same(slice(left, 30_000, paused), ramp((i) => signal(30_000 + i), 1, 0, FADE), 'a fade out');
  t.equal(Math.max(...left.subarray(paused, 40_000).map(Math.abs)), 0, 'silent while paused');
  t.same(slice(left, 40_000, 40_000 + FADE), ramp((i) => signal(paused + i), 0, 1, FADE), 'a fade in from where it paused');
  t.same(slice(left, 40_000 + FADE), Array.from({ length: 40_000 - paused - FADE }, (_, i) => signal(paused + FADE + i)), 'then bit-exact');
});

t.test('a cut fades out over AUDIO_FADE_MS and ends the stream there', async (t) => {
  const { device, recorded } = await recorder(t);
  const signal = noise(13);
  const stream = device.createStream();
  const hold = await gate(device, 30_000);
  await stream.writeAll(s16Stereo(50_000, signal, zero));
  await playedUpTo(stream, 30_000);
  stream.cut();
  hold.end();
  const result = await stream.finished();
  const [left] = await recorded();
  t.equal(result.outcome, 'aborted');
  t.equal(result.frames, 30_000 + FADE, 'a fade\'s worth more played');
  t.equal(left.length, 30_000 + FADE);
  t.same(slice(left, 30_000), ramp((i) => signal(30_000 + i), 1, 0, FADE), 'faded to silence');
});

t.test('a cut with less than a fade in the ring fades over what it holds; one not started ends at once', async (t) => {
  const { device, recorded } = await recorder(t);
  const stream = device.createStream();
  await stream.writeAll(s16Stereo(1000, level, zero));
  await playedUpTo(stream, 1000);
  const waiting = device.createStream();
  waiting.cut();
  t.equal((await waiting.finished()).frames, 0, 'a stream cut before its first frame never plays');
  await stream.writeAll(s16Stereo(100, level, zero));
  stream.cut();
  const result = await stream.finished();
  const [left] = await recorded();
  t.ok(result.frames <= 1100, `${result.frames} frames`);
  t.equal(left[left.length - 1], 0, 'the last frame is silent');
  t.ok(maxStep(left, 999, left.length) <= Math.ceil(LEVEL / (left.length - 1000)) + 1, 'a straight fade over what was there');
});

t.test('a stream ended at a length cap fades its last frames', async (t) => {
  const { device, recorded } = await recorder(t);
  const stream = device.createStream();
  // Said before the last frames are written: the thread keeps a fade's worth back until the end.
  stream.fadeTail();
  await stream.writeAll(s16Stereo(48_000, level, zero));
  stream.end();
  t.equal((await stream.finished()).frames, 48_000);
  const [left] = await recorded();
  t.same(slice(left, 0, 48_000 - FADE), new Array(48_000 - FADE).fill(LEVEL), 'untouched up to the last fade');
  t.same(slice(left, 48_000 - FADE), ramp(level, 1, 0, FADE), 'the last 960 frames fade to silence');
});

t.test('the software master volume scales the mix from the first frame and ramps when changed', async (t) => {
  const { device, recorded } = await recorder(t, { masterGain: 0.5 });
  const stream = device.createStream();
  await stream.writeAll(s16Stereo(20_000, level, () => -LEVEL));
  await playedUpTo(stream, 20_000);
  device.setMasterGain(0);
  await stream.writeAll(s16Stereo(20_000, level, () => -LEVEL));
  stream.end();
  await stream.finished();
  const [left, right] = await recorded();
  t.same(slice(left, 0, 20_000), new Array(20_000).fill(LEVEL / 2));
  t.same(slice(right, 0, 20_000), new Array(20_000).fill(-LEVEL / 2));
  t.same(slice(left, 20_000, 20_000 + FADE), ramp(level, 0.5, 0, FADE), 'ramps over 20 ms');
  t.equal(Math.max(...left.subarray(20_000 + FADE).map(Math.abs)), 0, 'muted after');
});
