// Timed streams (design §2c) on the clock sink, recorded by alsa-lib's file
// PCM layered on it: the recording says which device frame each stream's
// first frame became, and the sink's timeline says when that frame played.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openDevice, type Device } from '../../src/engine/native';
import { s16Constant, scratchDir } from '../pcm-fixtures';
import { playedAtNs, readTimeline } from '../sink-recording';

const RATE = 48000;
const PERIOD = 480;

interface Recorder {
  device: Device;
  raw: string;
  timeline: string;
}

async function recorder(t: Tap.Test, ppm: number): Promise<Recorder> {
  const dir = scratchDir(t);
  const raw = path.join(dir, 'out.raw');
  const timeline = path.join(dir, 'out.tl');
  const alsaConfig = `pcm.rec { type file slave.pcm "clk" file "${raw}" format raw }
pcm.clk { type speakerd_clock ppm ${ppm} timeline "${timeline}" }`;
  const device = await openDevice({ pcm: 'rec', alsaConfig, rate: RATE, periodFrames: PERIOD, periods: 4, idleMs: 0 });
  return { device, raw, timeline };
}

/**
 * The device frames at which the recording rises from silence through half
 * of `level`, in order. A timed stream goes through the resampler that keeps
 * it on the wall clock, which rings around a step; the step itself is where
 * its filtered edge crosses half way.
 */
function onsets(raw: string, level: number): number[] {
  const samples = new Int16Array(readFileSync(raw).buffer.slice(0));
  const found: number[] = [];
  let silentSince = 0;
  for (let frame = 0; frame < samples.length / 2; frame++) {
    const value = Math.abs(samples[frame * 2]!);
    if (value < level / 50) silentSince++;
    else if (value >= level / 2 && silentSince >= 48) {
      found.push(frame);
      silentSince = 0;
    } else if (value >= level / 2) silentSince = 0;
  }
  return found;
}

for (const ppm of [0, 300]) {
  t.test(`ppm ${ppm}: five timed streams, each 300 ms ahead, start on the frame that plays at \`at\`, within a frame`, async (t) => {
    const { device, raw, timeline } = await recorder(t, ppm);
    const wanted: number[] = [];
    for (let i = 0; i < 5; i++) {
      const at = Date.now() + 300;
      wanted.push(at);
      const stream = device.createStream({ at });
      // 0.2 s of a level, then the stream ends: the device plays silence until the next.
      await stream.writeAll(s16Constant(RATE / 5, 2, 1000 + i));
      stream.end();
      const result = await stream.finished();
      t.equal(result.outcome, 'played');
      t.equal(stream.stats().framesSkipped, 0, `stream ${i}: nothing skipped`);
      t.ok(Math.abs(stream.stats().startAtMs! - at) < 0.05, `stream ${i}: placed at ${stream.stats().startAtMs!.toFixed(3)} for ${at}`);
    }
    await device.close();
    const starts = onsets(raw, 1000);
    t.equal(starts.length, 5, `five streams in the recording (at frames ${starts.join(', ')})`);
    for (let i = 0; i < 5; i++) {
      const frame = starts[i];
      t.ok(frame !== undefined, `stream ${i} is in the recording`);
      const errorUs = Number(playedAtNs(readTimeline(timeline), frame!, ppm, RATE) - BigInt(wanted[i]!) * 1_000_000n) / 1000;
      // One frame is 20.8 µs; the rest is the line fitted through the sink's reports.
      t.ok(Math.abs(errorUs) <= 1000, `stream ${i}: its first frame played ${errorUs.toFixed(1)} µs from at`);
    }
  });
}

/** Frame k carries floor(k / 2) + 1 on both channels: a recorded sample says which frame it was, to 2 frames. */
function countingFrames(frames: number): Buffer {
  const out = Buffer.alloc(frames * 4);
  for (let k = 0; k < frames; k++) {
    out.writeInt16LE(Math.floor(k / 2) + 1, k * 4);
    out.writeInt16LE(Math.floor(k / 2) + 1, k * 4 + 2);
  }
  return out;
}

t.test('late=skip: a stream whose at passed 200 ms ago starts on the frame that belongs to now', async (t) => {
  const { device, raw, timeline } = await recorder(t, 0);
  const at = Date.now() - 200;
  const stream = device.createStream({ at });
  await stream.writeAll(countingFrames(60_000));
  stream.end();
  t.equal((await stream.finished()).outcome, 'played');
  const skipped = stream.stats().framesSkipped;
  t.ok(skipped >= 0.2 * RATE, `the 200 ms and more that had passed were skipped (${skipped} frames)`);
  await device.close();
  const samples = new Int16Array(readFileSync(raw).buffer.slice(0));
  const first = samples.findIndex((value) => value !== 0) >> 1;
  const streamFrame = (samples[first * 2]! - 1) * 2;
  t.equal(streamFrame, skipped - (skipped % 2), 'the first frame recorded is the first not skipped');
  // Frame k of the stream belongs to at + k / rate.
  const errorUs = Number(playedAtNs(readTimeline(timeline), first, 0, RATE) - (BigInt(at) * 1_000_000n + (BigInt(streamFrame) * 1_000_000_000n) / BigInt(RATE))) / 1000;
  t.ok(Math.abs(errorUs) <= 1000, `frame ${streamFrame} played ${errorUs.toFixed(1)} µs from the time it belongs to`);
});

t.test('late=play: a stream whose at has passed starts at once, from its first frame', async (t) => {
  const { device, raw } = await recorder(t, 0);
  const stream = device.createStream({ at: Date.now() - 200, late: 'play' });
  await stream.writeAll(countingFrames(9600));
  stream.end();
  t.match(await stream.finished(), { outcome: 'played', frames: 9600 });
  t.equal(stream.stats().framesSkipped, 0);
  await device.close();
  const samples = new Int16Array(readFileSync(raw).buffer.slice(0));
  t.equal(samples[samples.findIndex((value) => value !== 0)], 1, 'the first frame played is frame 0');
});
