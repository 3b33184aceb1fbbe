import t from 'tap';
import { roundHalfToEven } from '../pcm-fixtures';
import { addon, mallocBytesInUse } from '../../src/engine/addon';
import { INPUT_SAMPLE_FORMATS } from '../../src/formats/audio-format';
import { createConverter, type Converter, type ConverterOptions, type InputSpec, type OutputSpec } from '../../src/engine/converter';

/** A deterministic generator of 32-bit values (an LCG), for signals and chunk sizes. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

function converter(from: InputSpec, to: OutputSpec, quality?: number): Converter {
  const options: ConverterOptions = { from, to };
  if (quality !== undefined) options.quality = quality;
  return createConverter(options);
}

/** Converts a whole stream at once: its chunk and the resampler's tail. */
function convertAll(c: Converter, input: Uint8Array): Buffer {
  return Buffer.concat([c.convert(input), c.flush()]);
}

function s16Buffer(values: number[]): Buffer {
  const buf = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => buf.writeInt16LE(v, i * 2));
  return buf;
}

function readAll(buf: Buffer, width: number, read: (b: Buffer, at: number) => number): number[] {
  const out: number[] = [];
  for (let at = 0; at < buf.length; at += width) out.push(read(buf, at));
  return out;
}

const readS16 = (b: Buffer) => readAll(b, 2, (x, at) => x.readInt16LE(at));
const readS32 = (b: Buffer) => readAll(b, 4, (x, at) => x.readInt32LE(at));
const readFloat = (b: Buffer) => readAll(b, 4, (x, at) => x.readFloatLE(at));

/** Every S16 value, in order. */
const everyS16 = Array.from({ length: 65536 }, (_, i) => i - 32768);

t.test('same format, rate and channels: bytes are copied unchanged', async (t) => {
  const next = lcg(3);
  for (const [format, sampleBytes] of [['S16_LE', 2], ['S24_3LE', 3], ['S32_LE', 4], ['FLOAT_LE', 4]] as const) {
    const input = Buffer.alloc(999 * 2 * sampleBytes);
    for (let i = 0; i < input.length; i++) input[i] = next() >>> 24;
    const out = convertAll(converter({ format, rate: 44100, channels: 2 }, { format, rate: 44100, channels: 2 }), input);
    t.ok(out.equals(input), `${format}: ${out.length} bytes out, identical to the input`);
  }
});

t.test('S16_BE to S16_LE at the same rate is a byte swap', async (t) => {
  const input = Buffer.alloc(everyS16.length * 2);
  everyS16.forEach((v, i) => input.writeInt16BE(v, i * 2));
  const out = convertAll(converter({ format: 'S16_BE', rate: 16000, channels: 1 }, { format: 'S16_LE', rate: 16000, channels: 1 }), input);
  t.same(readS16(out), everyS16);
});

t.test('widening conversions at the same rate are exact', async (t) => {
  t.test('U8 to S16_LE: (u - 128) << 8, for every value', async (t) => {
    const input = Buffer.from(Array.from({ length: 256 }, (_, u) => u));
    const out = convertAll(converter({ format: 'U8', rate: 8000, channels: 1 }, { format: 'S16_LE', rate: 8000, channels: 1 }), input);
    t.same(readS16(out), Array.from({ length: 256 }, (_, u) => (u - 128) * 256));
  });

  t.test('S16_LE to S32_LE: s << 16, for every value', async (t) => {
    const out = convertAll(converter({ format: 'S16_LE', rate: 48000, channels: 2 }, { format: 'S32_LE', rate: 48000, channels: 2 }), s16Buffer(everyS16));
    t.same(readS32(out), everyS16.map((s) => s * 65536));
  });

  t.test('S16_LE to FLOAT_LE: s / 32768, for every value', async (t) => {
    const out = convertAll(converter({ format: 'S16_LE', rate: 48000, channels: 1 }, { format: 'FLOAT_LE', rate: 48000, channels: 1 }), s16Buffer(everyS16));
    t.same(readFloat(out), everyS16.map((s) => s / 32768));
  });

  // The extremes, the values around zero and a spread of others.
  const next = lcg(24);
  const s24 = [-8388608, -8388607, -1, 0, 1, 8388606, 8388607, ...Array.from({ length: 10_000 }, () => (next() >> 8))];

  t.test('S24_3LE to S32_LE: s << 8', async (t) => {
    const input = Buffer.alloc(s24.length * 3);
    s24.forEach((v, i) => input.writeIntLE(v, i * 3, 3));
    const out = convertAll(converter({ format: 'S24_3LE', rate: 96000, channels: 1 }, { format: 'S32_LE', rate: 96000, channels: 1 }), input);
    t.same(readS32(out), s24.map((s) => s * 256));
  });

  t.test('S24_3BE to S24_3LE and S24_LE: the same values', async (t) => {
    const input = Buffer.alloc(s24.length * 3);
    s24.forEach((v, i) => input.writeIntBE(v, i * 3, 3));
    const packed = convertAll(converter({ format: 'S24_3BE', rate: 96000, channels: 1 }, { format: 'S24_3LE', rate: 96000, channels: 1 }), input);
    t.same(readAll(packed, 3, (b, at) => b.readIntLE(at, 3)), s24);
    const padded = convertAll(converter({ format: 'S24_3BE', rate: 96000, channels: 1 }, { format: 'S24_LE', rate: 96000, channels: 1 }), input);
    t.same(readS32(padded), s24, 'S24_LE: sign-extended in 32-bit words');
  });

  t.test('S32_LE channel maps move samples without losing a bit', async (t) => {
    const values = [-2147483648, -2147483647, -1, 0, 1, 2147483646, 2147483647, 123456789];
    const input = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => input.writeInt32LE(v, i * 4));
    const stereo = convertAll(converter({ format: 'S32_LE', rate: 48000, channels: 1 }, { format: 'S32_LE', rate: 48000, channels: 2 }), input);
    t.same(readS32(stereo), values.flatMap((v) => [v, v]));
  });
});

t.test('float input is clipped to [-1, 1]; NaN is silence', async (t) => {
  const values = [-3, -1, -0.75, 0, 1e-3, 0.999, 1, 1.0000001, 2, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  const input = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => input.writeDoubleLE(v, i * 8));
  const out = convertAll(converter({ format: 'FLOAT64_LE', rate: 48000, channels: 1 }, { format: 'FLOAT_LE', rate: 48000, channels: 1 }), input);
  t.same(readFloat(out), [-1, -1, -0.75, 0, Math.fround(1e-3), Math.fround(0.999), 1, 1, 1, 0, 1, -1]);
});

t.test('encoding to S16 clips at full scale and rounds halves to even; NaN is silence', async (t) => {
  const lsb = 1 / 32768;
  const values = [1, -1, 2, -2, 0.5 * lsb, 1.5 * lsb, 2.5 * lsb, -1.5 * lsb, -2.5 * lsb, 32766.5 * lsb, 32767.5 * lsb, -32768.5 * lsb, Number.NaN];
  const wanted = [32767, -32768, 32767, -32768, 0, 2, 2, -2, -2, 32766, 32767, -32768, 0];
  // Three times over, 13 values each: every value lands both in the
  // encoder's blocks of eight and in its tail, which are different code.
  const input = Buffer.alloc(values.length * 3 * 4);
  [...values, ...values, ...values].forEach((v, i) => input.writeFloatLE(v, i * 4));
  const out = convertAll(converter({ format: 'FLOAT_LE', rate: 48000, channels: 1 }, { format: 'S16_LE', rate: 48000, channels: 1 }), input);
  t.same(readS16(out), [...wanted, ...wanted, ...wanted]);
});

t.test('channel maps', async (t) => {
  const next = lcg(7);
  const frames = 5000;
  const random = (channels: number) => Array.from({ length: frames * channels }, () => (next() >>> 16) - 32768);
  const map = (from: number, to: number, samples: number[]) =>
    readS16(convertAll(converter({ format: 'S16_LE', rate: 48000, channels: from }, { format: 'S16_LE', rate: 48000, channels: to }), s16Buffer(samples)));
  const frame = (samples: number[], channels: number, f: number) => samples.slice(f * channels, (f + 1) * channels);
  const expectFrames = (samples: number[], from: number, perFrame: (frame: number[]) => number[]) =>
    Array.from({ length: samples.length / from }, (_, f) => perFrame(frame(samples, from, f))).flat();

  t.test('1 → 2: both channels carry the mono signal', async (t) => {
    const mono = random(1);
    t.same(map(1, 2, mono), expectFrames(mono, 1, ([m]) => [m!, m!]));
  });

  t.test('2 → 1: the average, rounded half to even', async (t) => {
    const edges = [1, 2, 1, 4, -1, -2, 3, 4, 32767, 32767, -32768, -32768, -32768, 32767];
    t.same(map(2, 1, edges), [2, 2, -2, 4, 32767, -32768, 0], '1.5 → 2, 2.5 → 2, -1.5 → -2, 3.5 → 4, -0.5 → 0');
    const stereo = random(2);
    t.same(map(2, 1, stereo), expectFrames(stereo, 2, ([l, r]) => [roundHalfToEven((l! + r!) / 2)]));
  });

  t.test('6 → 1: the average of all six, rounded half to even', async (t) => {
    const surround = random(6);
    t.same(map(6, 1, surround), expectFrames(surround, 6, (f) => [roundHalfToEven(f.reduce((a, b) => a + b) / 6)]));
  });

  t.test('2 → 6: front left and right carry the input, the other four are silent', async (t) => {
    const stereo = random(2);
    t.same(map(2, 6, stereo), expectFrames(stereo, 2, ([l, r]) => [l!, r!, 0, 0, 0, 0]));
  });

  t.test('6 → 2: the first two input channels (front left, front right)', async (t) => {
    const surround = random(6);
    t.same(map(6, 2, surround), expectFrames(surround, 6, ([fl, fr]) => [fl!, fr!]));
  });

  t.test('1 → 2 with resampling equals resampling, then duplicating', async (t) => {
    const mono = random(1);
    const resampledMono = readS16(convertAll(converter({ format: 'S16_LE', rate: 16000, channels: 1 }, { format: 'S16_LE', rate: 48000, channels: 1 }), s16Buffer(mono)));
    const resampledStereo = readS16(convertAll(converter({ format: 'S16_LE', rate: 16000, channels: 1 }, { format: 'S16_LE', rate: 48000, channels: 2 }), s16Buffer(mono)));
    t.same(resampledStereo, resampledMono.flatMap((m) => [m, m]));
  });
});

// ---- resampling ---------------------------------------------------------------

/** A sine of amplitude `amplitude` at `hz`, sampled at `rate`, as S16 with one frequency per channel. */
function sineS16(frames: number, rate: number, hzPerChannel: number[], amplitude: number): Buffer {
  const channels = hzPerChannel.length;
  const buf = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    hzPerChannel.forEach((hz, c) => buf.writeInt16LE(Math.round(amplitude * 32768 * Math.sin((2 * Math.PI * hz * i) / rate)), (i * channels + c) * 2));
  }
  return buf;
}

function channelOf(buf: Buffer, channels: number, channel: number): Float64Array {
  const frames = buf.length / 2 / channels;
  const out = new Float64Array(frames);
  for (let i = 0; i < frames; i++) out[i] = buf.readInt16LE((i * channels + channel) * 2) / 32768;
  return out;
}

/** Power of `x` at `hz` (Goertzel over a Hann window, so that far bins do not leak). */
function powerAt(x: Float64Array, hz: number, rate: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const windowed = x[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (x.length - 1)));
    const s0 = windowed + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coefficient * s1 * s2;
}

/** Signal-to-noise ratio in dB of `x` against the ideal sine, skipping `edge` frames at both ends. */
function snrDb(x: Float64Array, hz: number, rate: number, amplitude: number, edge: number): number {
  let signal = 0;
  let noise = 0;
  for (let i = edge; i < x.length - edge; i++) {
    const ideal = amplitude * Math.sin((2 * Math.PI * hz * i) / rate);
    signal += ideal * ideal;
    noise += (x[i]! - ideal) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

const toneHz = [1000, 3000]; // left, right

for (const [inRate, outRate] of [[16000, 48000], [22050, 48000], [44100, 48000], [48000, 44100]] as const) {
  t.test(`${inRate} → ${outRate} Hz: exact length, the right frequency, SNR above 60 dB`, async (t) => {
    const frames = Math.round(inRate * 1.5) + 7;
    const amplitude = 0.5;
    const c = converter({ format: 'S16_LE', rate: inRate, channels: 2 }, { format: 'S16_LE', rate: outRate, channels: 2 });
    const body = c.convert(sineS16(frames, inRate, toneHz, amplitude));
    const tail = c.flush();
    const expectedFrames = Math.round((frames * outRate) / inRate);
    t.ok(body.length / 4 <= expectedFrames, `convert() gave ${body.length / 4} frames, never more than the total`);
    t.equal((body.length + tail.length) / 4, expectedFrames, `round(${frames} × ${outRate} / ${inRate}) frames in all`);

    const out = Buffer.concat([body, tail]);
    const edge = Math.round(outRate * 0.005);
    toneHz.forEach((hz, channel) => {
      const x = channelOf(out, 2, channel);
      // The peak sits at the tone, not where a wrong rate would put it, and
      // stands far above everything else on a 25 Hz grid up to 8 kHz.
      const peak = powerAt(x, hz, outRate);
      let loudestElsewhere = 0;
      for (let f = 25; f <= 8000; f += 25) if (Math.abs(f - hz) >= 50) loudestElsewhere = Math.max(loudestElsewhere, powerAt(x, f, outRate));
      for (const wrong of [(hz * inRate) / outRate, (hz * outRate) / inRate]) loudestElsewhere = Math.max(loudestElsewhere, powerAt(x, wrong, outRate));
      const marginDb = 10 * Math.log10(peak / loudestElsewhere);
      t.ok(marginDb > 60, `channel ${channel}: ${hz} Hz dominates by ${marginDb.toFixed(1)} dB`);
      const snr = snrDb(x, hz, outRate, amplitude, edge);
      t.ok(snr > 60, `channel ${channel}: SNR ${snr.toFixed(1)} dB against the ideal ${hz} Hz sine`);
    });
  });
}

t.test('a length whose exact output ends in a half frame rounds up', async (t) => {
  // 48000 → 44100 is × 147/160: n × 147 ≡ 80 (mod 160) gives k + 0.5 frames.
  let frames = 1000;
  while ((frames * 147) % 160 !== 80) frames++;
  const out = convertAll(converter({ format: 'S16_LE', rate: 48000, channels: 1 }, { format: 'S16_LE', rate: 44100, channels: 1 }), Buffer.alloc(frames * 2));
  t.equal(out.length / 2, Math.ceil((frames * 147) / 160), `${frames} frames → ${(frames * 147) / 160} → ${out.length / 2}`);
});

t.test('the output does not depend on how the input was split into chunks', async (t) => {
  const cases: Array<[InputSpec, OutputSpec, number]> = [
    [{ format: 'S16_LE', rate: 44100, channels: 2 }, { format: 'S16_LE', rate: 48000, channels: 2 }, 4],
    [{ format: 'U8', rate: 16000, channels: 1 }, { format: 'S24_3LE', rate: 48000, channels: 2 }, 1],
    [{ format: 'FLOAT64_LE', rate: 48000, channels: 6 }, { format: 'FLOAT_LE', rate: 44100, channels: 2 }, 48],
    [{ format: 'S24_3BE', rate: 22050, channels: 2 }, { format: 'S32_LE', rate: 48000, channels: 1 }, 6],
    [{ format: 'S16_BE', rate: 8000, channels: 1 }, { format: 'S16_LE', rate: 8000, channels: 1 }, 2],
  ];
  for (const [from, to, frameBytes] of cases) {
    const next = lcg(from.rate);
    const frames = 30_000;
    const input = Buffer.alloc(frames * frameBytes);
    if (from.format === 'FLOAT64_LE') {
      for (let i = 0; i < input.length / 8; i++) input.writeDoubleLE((next() / 2 ** 32) * 2.2 - 1.1, i * 8);
    } else {
      for (let i = 0; i < input.length; i++) input[i] = next() >>> 24;
    }
    const whole = convertAll(converter(from, to), input);
    const c = converter(from, to);
    const parts: Buffer[] = [];
    let sizes = 0;
    for (let at = 0; at < frames; ) {
      const n = Math.min(frames - at, next() % 3000); // zero-length chunks included
      parts.push(c.convert(input.subarray(at * frameBytes, (at + n) * frameBytes)));
      at += n;
      sizes++;
    }
    parts.push(c.flush());
    t.ok(Buffer.concat(parts).equals(whole), `${from.format} ${from.rate}/${from.channels} → ${to.format} ${to.rate}/${to.channels}: ${sizes} chunks give the same ${whole.length} bytes`);
  }
});

t.test('flush() ends the stream: later convert() throws, a second flush() gives nothing', async (t) => {
  const c = converter({ format: 'S16_LE', rate: 22050, channels: 1 }, { format: 'S16_LE', rate: 48000, channels: 1 });
  const out = convertAll(c, sineS16(5000, 22050, [440], 0.8));
  t.equal(out.length / 2, Math.round((5000 * 48000) / 22050));
  t.equal(c.flush().length, 0);
  t.throws(() => c.convert(Buffer.alloc(2)), { name: 'TypeError', code: 'E_CONVERTER_FLUSHED', message: 'convert() after flush(): a converter serves one stream' });
});

t.test('quality is a parameter: 10 is cleaner than 0', async (t) => {
  const input = sineS16(44100, 44100, [1000], 0.5);
  const snrAt = (quality: number) => {
    const out = convertAll(converter({ format: 'S16_LE', rate: 44100, channels: 1 }, { format: 'S16_LE', rate: 48000, channels: 1 }, quality), input);
    return snrDb(channelOf(out, 1, 0), 1000, 48000, 0.5, 240);
  };
  const [low, high] = [snrAt(0), snrAt(10)];
  t.ok(high > low + 10, `quality 0: ${low.toFixed(1)} dB, quality 10: ${high.toFixed(1)} dB`);
});

t.test('44.1 kHz → 48 kHz S16 stereo in 16 KiB chunks: 20 s in, exactly 20 s out', async (t) => {
  // How fast is bench/'s to say (bench/cpu.mjs); this checks that a long
  // chunked stream comes out whole.
  const seconds = 20;
  const input = sineS16(44100 * seconds, 44100, toneHz, 0.5);
  const c = converter({ format: 'S16_LE', rate: 44100, channels: 2 }, { format: 'S16_LE', rate: 48000, channels: 2 });
  let bytes = 0;
  for (let at = 0; at < input.length; at += 16384) bytes += c.convert(input.subarray(at, at + 16384)).length;
  bytes += c.flush().length;
  t.equal(bytes, 48000 * seconds * 4);
});

// ---- misuse and lifetime ------------------------------------------------------

t.test('bad arguments throw a TypeError with a code before reaching C++', async (t) => {
  const from: InputSpec = { format: 'S16_LE', rate: 44100, channels: 2 };
  const to: OutputSpec = { format: 'S16_LE', rate: 48000, channels: 2 };
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['no options', () => createConverter(undefined as never), /^createConverter\(\) needs an options object$/],
    ['no from', () => createConverter({ to } as never), /^from must be \{ format, rate, channels \}$/],
    ['unknown input format', () => createConverter({ from: { ...from, format: 'MP3' as never }, to }), new RegExp(`^from.format must be one of ${INPUT_SAMPLE_FORMATS.join(', ')}; got MP3$`)],
    ['an input-only format as output', () => createConverter({ from, to: { ...to, format: 'U8' as never } }), /^to.format must be one of S16_LE, S24_LE, S24_3LE, S32_LE, FLOAT_LE; got U8$/],
    ['rate too low', () => createConverter({ from: { ...from, rate: 999 }, to }), /^from.rate must be an integer from 1000 to 384000; got 999$/],
    ['rate too high', () => createConverter({ from, to: { ...to, rate: 384001 } }), /^to.rate must be an integer from 1000 to 384000; got 384001$/],
    ['fractional rate', () => createConverter({ from: { ...from, rate: 44100.5 }, to }), /^from.rate must be an integer from 1000 to 384000; got 44100.5$/],
    ['no channels', () => createConverter({ from: { ...from, channels: 0 }, to }), /^from.channels must be an integer from 1 to 8; got 0$/],
    ['nine input channels', () => createConverter({ from: { ...from, channels: 9 }, to }), /^from.channels must be an integer from 1 to 8; got 9$/],
    ['33 output channels', () => createConverter({ from, to: { ...to, channels: 33 } }), /^to.channels must be an integer from 1 to 32; got 33$/],
    ['quality 11', () => createConverter({ from, to, quality: 11 }), /^quality must be an integer from 0 to 10; got 11$/],
    ['fractional quality', () => createConverter({ from, to, quality: 2.5 }), /^quality must be an integer from 0 to 10; got 2.5$/],
  ];
  for (const [name, call, message] of cases) t.throws(call, { name: 'TypeError', code: 'E_INVALID_ARG', message }, name);
});

t.test('the addon refuses bad arguments itself, with codes', async (t) => {
  const native = addon as { createConverter(options: unknown): unknown };
  const spec = (format: string, rate: number, channels: number) => ({ format, rate, channels });
  const good = spec('S16_LE', 48000, 2);
  const cases: Array<[string, unknown, string, string]> = [
    ['unknown format name', { from: spec('MP3', 48000, 2), to: good }, 'E_INVALID_FORMAT', 'unsupported input sample format MP3'],
    ['S24_LE is not an input format', { from: spec('S24_LE', 48000, 2), to: good }, 'E_INVALID_FORMAT', 'unsupported input sample format S24_LE'],
    ['U8 is not a device format', { from: good, to: spec('U8', 48000, 2) }, 'E_INVALID_FORMAT', 'unsupported output sample format U8'],
    ['rate 0', { from: spec('S16_LE', 0, 2), to: good }, 'E_INVALID_ARG', 'input rate must be from 1000 to 384000; got 0'],
    ['9 channels', { from: spec('S16_LE', 48000, 9), to: good }, 'E_INVALID_ARG', 'input channels must be from 1 to 8; got 9'],
    ['quality -1', { from: good, to: good, quality: -1 }, 'E_INVALID_ARG', 'resampler quality must be from 0 to 10; got -1'],
    ['a missing spec', { from: good }, 'E_INVALID_ARG', 'to must be { format, rate, channels }'],
  ];
  for (const [name, options, code, message] of cases) t.throws(() => native.createConverter(options), { name: 'TypeError', code, message }, name);
});

t.test('convert() takes whole frames of a Buffer or Uint8Array', async (t) => {
  const c = converter({ format: 'S16_LE', rate: 44100, channels: 2 }, { format: 'S16_LE', rate: 48000, channels: 2 });
  t.throws(() => c.convert(Buffer.alloc(6)), { name: 'TypeError', code: 'E_PARTIAL_FRAME', message: 'convert() takes whole frames of 4 bytes; got 6 bytes' });
  t.throws(() => c.convert('text' as never), { name: 'TypeError', code: 'E_INVALID_ARG', message: 'convert() takes a Buffer or Uint8Array' });
  t.equal(c.convert(new Uint8Array(0)).length, 0, 'an empty chunk gives nothing');
  const view = new Uint8Array(new ArrayBuffer(4 + 4410 * 4), 4);
  t.equal(c.convert(view).length + c.flush().length, 4800 * 4, 'a view at an offset is read from its offset');
});

t.test('1000 create, convert and flush cycles leave native memory flat, dropped converters included', async (t) => {
  const input = sineS16(4410, 44100, toneHz, 0.5);
  const cycle = (i: number) => {
    const c = converter({ format: 'S16_LE', rate: 44100, channels: 2 }, { format: i % 2 ? 'S32_LE' : 'S16_LE', rate: i % 3 ? 48000 : 44100, channels: 2 });
    c.convert(input);
    // Every fourth stream is dropped mid-way, as when a client disconnects:
    // its memory goes when JS collects the converter.
    if (i % 4 !== 0) c.flush();
  };
  // Collected converters free their memory in finalizers that run after the
  // collection, outside the synchronous loop: let them run before measuring.
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      global.gc?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  // What malloc has handed out, not RSS: RSS moved by up to 8 MiB over a
  // round with no leak at all (arenas, fragmentation, V8's heap), while one
  // leaked converter is about 40 KiB. Warm up first all the same, for
  // whatever Node and the addon allocate once.
  for (let i = 0; i < 1000; i++) cycle(i);
  await settle();
  const before = mallocBytesInUse();
  for (let i = 0; i < 1000; i++) cycle(i);
  await settle();
  const growthKiB = (mallocBytesInUse() - before) / 1024;
  t.ok(growthKiB < 256, `malloc'd memory grew by ${growthKiB.toFixed(1)} KiB over 1000 cycles (a converter is about 40 KiB)`);
});
