// A stream converts frames in its input format straight into its ring
// (native/src/stream_input.cc): what comes out of the device must be exactly
// what the standalone converter makes of the same bytes, its resampler tail
// included, however small the ring.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createConverter } from '../../src/engine/converter';
import { openDevice } from '../../src/engine/native';
import { filePcmConfig, s16Pattern, scratchDir } from '../pcm-fixtures';

const DEVICE = { format: 'S16_LE', rate: 48000, channels: 2 } as const;

async function openFileDevice(t: Tap.Test) {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), underrun: 'wait', periodFrames: 256 });
  return { device, out };
}

function byteSwapped(s16: Buffer): Buffer {
  return Buffer.from(s16).swap16();
}

t.test('44.1 kHz mono S16_BE through a 512-frame ring plays exactly what the converter makes of it, tail included', async (t) => {
  const { device, out } = await openFileDevice(t);
  const input = byteSwapped(s16Pattern(44_100, 1));
  const converter = createConverter({ from: { format: 'S16_BE', rate: 44100, channels: 1 }, to: DEVICE });
  const expected = Buffer.concat([converter.convert(input), converter.flush()]);
  t.equal(expected.length, 48_000 * 4, 'the converter makes exactly one second at 48 kHz');

  const stream = device.createStream({ ringFrames: 512 });
  stream.setInputFormat({ format: 'S16_BE', rate: 44100, channels: 1 });
  // Chunks of odd sizes, bigger than the ring: every write comes back short
  // and the overrun of the last block is held aside until there is room.
  for (let at = 0; at < input.length; at += 2 * 3001) {
    t.equal(await stream.writeAll(input.subarray(at, at + 2 * 3001)), true);
  }
  stream.end();
  const result = await stream.finished();
  await device.close();
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 48_000, 'the stream reports device frames');
  t.ok(readFileSync(out).equals(expected), 'the file holds the converter output byte for byte');
});

t.test('frames already in the device format pass through unchanged', async (t) => {
  const { device, out } = await openFileDevice(t);
  const samples = s16Pattern(10_000, 2);
  const stream = device.createStream();
  stream.setInputFormat({ format: 'S16_LE', rate: 48000, channels: 2 });
  t.equal(await stream.writeAll(samples), true);
  stream.end();
  t.equal((await stream.finished()).frames, 10_000);
  await device.close();
  t.ok(readFileSync(out).equals(samples));
});

t.test('write takes whole input frames of the input format', async (t) => {
  const { device } = await openFileDevice(t);
  const stream = device.createStream();
  stream.setInputFormat({ format: 'FLOAT64_LE', rate: 48000, channels: 3 });
  t.throws(() => stream.write(Buffer.alloc(4 * 2 * 2)), { code: 'E_PARTIAL_FRAME', message: 'write() takes whole frames of 24 bytes; got 16 bytes' });
  t.equal(stream.write(Buffer.alloc(24 * 10)), 10, 'ten 3-channel float64 frames');
  stream.abort();
  await stream.finished();
  await device.close();
});

t.test('the input format is refused when bad, and once frames were written', async (t) => {
  const { device } = await openFileDevice(t);
  const stream = device.createStream();
  t.throws(() => stream.setInputFormat({ format: 'S24_LE' as never, rate: 48000, channels: 2 }), {
    name: 'TypeError',
    code: 'E_INVALID_ARG',
    message: 'format.format must be one of U8, S16_LE, S16_BE, S24_3LE, S24_3BE, S32_LE, FLOAT_LE, FLOAT64_LE; got S24_LE',
  });
  t.throws(() => stream.setInputFormat({ format: 'S16_LE', rate: 999, channels: 2 }), { code: 'E_INVALID_ARG', message: /format\.rate must be an integer from 1000 to 384000/ });
  t.throws(() => stream.setInputFormat({ format: 'S16_LE', rate: 48000, channels: 9 }), { code: 'E_INVALID_ARG', message: /format\.channels must be an integer from 1 to 8/ });
  t.throws(() => stream.setInputFormat({ format: 'S16_LE', rate: 48000, channels: 2 }, 11), { code: 'E_INVALID_ARG', message: /quality must be an integer from 0 to 10/ });
  t.equal(stream.write(s16Pattern(100, 2)), 100);
  t.throws(() => stream.setInputFormat({ format: 'U8', rate: 8000, channels: 1 }), {
    name: 'TypeError',
    code: 'E_INVALID_STATE',
    message: 'setInputFormat() after the first write',
  });
  stream.end();
  t.equal((await stream.finished()).frames, 100, 'the stream plays on in the format it started with');
  await device.close();
});
