import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openDevice } from '../../src/engine/native';
import { filePcmConfig, s16Constant, s16Pattern, s32Pattern, scratchDir } from '../pcm-fixtures';

// The mixer rounds like lrintf in the default mode: halves go to the even neighbour.
function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

t.test('S16_LE frames written to a stream come out of a file PCM byte for byte', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), underrun: 'wait', periodFrames: 256 });
  t.same(device.info, { pcm: 'out', format: 'S16_LE', rate: 48000, channels: 2, periodFrames: 256, bufferFrames: 1024, frameBytes: 4, access: 'mmap' });
  const samples = s16Pattern(100_000, 2);
  const stream = device.createStream();
  t.equal(await stream.writeAll(samples), true);
  stream.end();
  const result = await stream.finished();
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 100_000);
  t.equal(result.underruns, 0);
  t.equal(device.stats().xruns, 0);
  await device.close();
  const written = readFileSync(out);
  t.equal(written.length, samples.length);
  t.ok(written.equals(samples), 'file content equals the samples written');
});

t.test('S32_LE frames come out of a file PCM byte for byte', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), format: 'S32_LE', rate: 44100, channels: 2, underrun: 'wait' });
  t.equal(device.info.format, 'S32_LE');
  t.equal(device.info.frameBytes, 8);
  const samples = s32Pattern(50_000, 2);
  const stream = device.createStream();
  await stream.writeAll(samples);
  stream.end();
  t.equal((await stream.finished()).frames, 50_000);
  await device.close();
  t.ok(readFileSync(out).equals(samples), 'file content equals the samples written');
});

t.test('two streams with gains 0.5 and 2.0 mix to the exact clipped sum', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), channels: 1, underrun: 'wait', periodFrames: 256 });
  const frames = 20_000;
  const a = s16Pattern(frames, 1, 7);
  const b = s16Pattern(frames, 1, 99);
  const quiet = device.createStream({ gain: 0.5 });
  const loud = device.createStream({ gain: 2.0 });
  // Both rings must hold the whole signal before either is consumed, so that
  // the chunks line up; the wait policy mixes only when every stream has data.
  await Promise.all([quiet.writeAll(a), loud.writeAll(b)]);
  quiet.end();
  loud.end();
  const [qa, lb] = await Promise.all([quiet.finished(), loud.finished()]);
  t.equal(qa.frames, frames);
  t.equal(lb.frames, frames);
  await device.close();
  const written = readFileSync(out);
  t.equal(written.length, frames * 2);
  let mismatches = 0;
  let clipped = 0;
  for (let i = 0; i < frames; i++) {
    const sum = a.readInt16LE(i * 2) * 0.5 + b.readInt16LE(i * 2) * 2.0;
    const expected = Math.max(-32768, Math.min(32767, roundHalfToEven(sum)));
    if (expected !== roundHalfToEven(sum)) clipped++;
    if (written.readInt16LE(i * 2) !== expected) mismatches++;
  }
  t.equal(mismatches, 0, 'every sample is the clipped sum');
  t.ok(clipped > frames / 4, `the signal exercises clipping (${clipped} clipped samples)`);
});

t.test('a stream at unity gain mixed with silence-free streams sums exactly', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), channels: 2, underrun: 'wait' });
  const frames = 4096;
  const one = device.createStream();
  const two = device.createStream();
  await Promise.all([one.writeAll(s16Constant(frames, 2, 1000)), two.writeAll(s16Constant(frames, 2, -300))]);
  one.end();
  two.end();
  await Promise.all([one.finished(), two.finished()]);
  await device.close();
  t.ok(readFileSync(out).equals(s16Constant(frames, 2, 700)), 'every sample is 1000 + (-300)');
});
