import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openDevice } from '../../src/engine/native';
import { filePcmConfig, s16Constant, s16Pattern, s32Pattern, scratchDir, roundHalfToEven } from '../pcm-fixtures';

t.test('S16_LE frames written to a stream come out of a file PCM byte for byte', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), underrun: 'wait', periodFrames: 256 });
  t.same(device.info, { pcm: 'out', format: 'S16_LE', rate: 48000, channels: 2, periodFrames: 256, bufferFrames: 1024, frameBytes: 4, access: 'mmap', card: null });
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

// One sample value encoded in each device format.
const encoders: Record<'S16_LE' | 'S24_LE' | 'S24_3LE' | 'S32_LE' | 'FLOAT_LE', { width: number; fullScale: number; write(buf: Buffer, value: number, at: number): void; read(buf: Buffer, at: number): number }> = {
  S16_LE: { width: 2, fullScale: 2 ** 15, write: (b, v, at) => b.writeInt16LE(v, at), read: (b, at) => b.readInt16LE(at) },
  S24_LE: { width: 4, fullScale: 2 ** 23, write: (b, v, at) => b.writeInt32LE(v, at), read: (b, at) => b.readInt32LE(at) },
  S24_3LE: { width: 3, fullScale: 2 ** 23, write: (b, v, at) => b.writeIntLE(v, at, 3), read: (b, at) => b.readIntLE(at, 3) },
  S32_LE: { width: 4, fullScale: 2 ** 31, write: (b, v, at) => b.writeInt32LE(v, at), read: (b, at) => b.readInt32LE(at) },
  FLOAT_LE: { width: 4, fullScale: 1, write: (b, v, at) => b.writeFloatLE(v, at), read: (b, at) => b.readFloatLE(at) },
};

for (const [format, codec] of Object.entries(encoders)) {
  t.test(`${format}: two streams sum exactly and clip at full scale`, async (t) => {
    const out = path.join(scratchDir(t), 'out.raw');
    const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), format: format as keyof typeof encoders, channels: 1, underrun: 'wait', periodFrames: 256 });
    const frames = 2048;
    const constant = (value: number) => {
      const buf = Buffer.alloc(frames * codec.width);
      for (let i = 0; i < frames; i++) codec.write(buf, value, i * codec.width);
      return buf;
    };
    const quarter = codec.fullScale / 4;
    const eighth = codec.fullScale / 8;
    const max = format === 'FLOAT_LE' ? 1 : codec.fullScale - 1;
    // First half: a quarter plus an eighth of full scale. Second half: two
    // near-full-scale signals, which must clip to the format's maximum.
    const a = Buffer.concat([constant(quarter), constant(max)]);
    const b = Buffer.concat([constant(eighth), constant(max)]);
    const one = device.createStream();
    const two = device.createStream();
    await Promise.all([one.writeAll(a), two.writeAll(b)]);
    one.end();
    two.end();
    await Promise.all([one.finished(), two.finished()]);
    await device.close();
    const written = readFileSync(out);
    t.equal(written.length, 2 * frames * codec.width);
    const firstHalf = new Set<number>();
    const secondHalf = new Set<number>();
    for (let i = 0; i < 2 * frames; i++) (i < frames ? firstHalf : secondHalf).add(codec.read(written, i * codec.width));
    t.same([...firstHalf], [quarter + eighth], 'quarter + eighth of full scale, exactly');
    t.same([...secondHalf], [max], 'clipped to the largest value of the format');
  });
}
