// Every supported input format and layout, through the real service into a
// file PCM (48 kHz stereo S16_LE): bit-exact where no resampling is needed,
// a clean sine of the right frequency and length where it is. The app runs in
// this process, over a real socket: nothing here needs a process of its own.
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { scratchDir, roundHalfToEven } from '../pcm-fixtures';
import { startInProcessApp } from './in-process-app';
import { fileDeviceEnv } from './server-process';
import { sineSnrDb } from './sine-fit';

const DEVICE_RATE = 48000;

const clip16 = (x: number) => Math.max(-32768, Math.min(32767, x));

/** One input sample format: how to write a value in [-1, 1) and what S16 the device must get for it. */
interface Codec {
  bytes: number;
  write(buf: Buffer, at: number, value: number): void;
  /** The device sample (S16) the converter must produce for what write() stored. */
  expected(buf: Buffer, at: number): number;
}

const codecs: Record<string, Codec> = {
  U8: { bytes: 1, write: (b, at, v) => b.writeUInt8(Math.round(v * 127) + 128, at), expected: (b, at) => (b.readUInt8(at) - 128) << 8 },
  S16_LE: { bytes: 2, write: (b, at, v) => b.writeInt16LE(Math.round(v * 32767), at), expected: (b, at) => b.readInt16LE(at) },
  S16_BE: { bytes: 2, write: (b, at, v) => b.writeInt16BE(Math.round(v * 32767), at), expected: (b, at) => b.readInt16BE(at) },
  S24_3LE: { bytes: 3, write: (b, at, v) => b.writeIntLE(Math.round(v * 8388607), at, 3), expected: (b, at) => clip16(roundHalfToEven(b.readIntLE(at, 3) / 256)) },
  S24_3BE: { bytes: 3, write: (b, at, v) => b.writeIntBE(Math.round(v * 8388607), at, 3), expected: (b, at) => clip16(roundHalfToEven(b.readIntBE(at, 3) / 256)) },
  S32_LE: { bytes: 4, write: (b, at, v) => b.writeInt32LE(Math.round(v * 2147483647), at), expected: (b, at) => clip16(roundHalfToEven(Math.fround(b.readInt32LE(at)) / 65536)) },
  FLOAT_LE: { bytes: 4, write: (b, at, v) => b.writeFloatLE(v * 1.25, at), expected: (b, at) => clip16(roundHalfToEven(Math.max(-1, Math.min(1, b.readFloatLE(at))) * 32768)) },
  FLOAT64_LE: { bytes: 8, write: (b, at, v) => b.writeDoubleLE(v * 1.25, at), expected: (b, at) => clip16(roundHalfToEven(Math.max(-1, Math.min(1, Math.fround(b.readDoubleLE(at)))) * 32768)) },
};

/** A deterministic test signal: a different tone per channel, with some noise. */
function signal(codec: Codec, frames: number, channels: number): Buffer {
  const buf = Buffer.alloc(frames * channels * codec.bytes);
  let seed = 12345;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const v = 0.7 * Math.sin((2 * Math.PI * (300 + 100 * c) * i) / DEVICE_RATE) + 0.29 * (seed / 2 ** 32 - 0.5);
      codec.write(buf, (i * channels + c) * codec.bytes, v);
    }
  }
  return buf;
}

/** The device frames (S16 stereo) the converter must produce from `data` at the device rate. */
function expectedDeviceFrames(codec: Codec, data: Buffer, channels: number): Buffer {
  const frames = data.length / (codec.bytes * channels);
  const out = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const sample = (c: number) => codec.expected(data, (i * channels + c) * codec.bytes);
    // Mono goes to both channels; more than two channels keep the first two.
    const left = sample(0);
    const right = channels === 1 ? left : sample(1);
    out.writeInt16LE(left, i * 4);
    out.writeInt16LE(right, i * 4 + 2);
  }
  return out;
}

interface WavLayout {
  formatTag: number;
  bits: number;
  extensible?: { validBits: number; float: boolean };
}

const WAV_LAYOUTS: Record<string, WavLayout> = {
  U8: { formatTag: 1, bits: 8 },
  S16_LE: { formatTag: 1, bits: 16 },
  S24_3LE: { formatTag: 1, bits: 24 },
  S32_LE: { formatTag: 1, bits: 32 },
  FLOAT_LE: { formatTag: 3, bits: 32 },
  FLOAT64_LE: { formatTag: 3, bits: 64 },
};

function wavFile(layout: WavLayout, channels: number, rate: number, data: Buffer): Buffer {
  const extensible = layout.extensible !== undefined;
  const fmtSize = extensible ? 40 : 16;
  const fmt = Buffer.alloc(8 + fmtSize);
  fmt.write('fmt ', 0, 'ascii');
  fmt.writeUInt32LE(fmtSize, 4);
  fmt.writeUInt16LE(extensible ? 0xfffe : layout.formatTag, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE(rate * channels * (layout.bits / 8), 16);
  fmt.writeUInt16LE(channels * (layout.bits / 8), 20);
  fmt.writeUInt16LE(layout.bits, 22);
  if (layout.extensible) {
    fmt.writeUInt16LE(22, 24);
    fmt.writeUInt16LE(layout.extensible.validBits, 26);
    fmt.writeUInt32LE(channels === 1 ? 0x4 : (1 << channels) - 1, 28);
    // KSDATAFORMAT_SUBTYPE_PCM or _IEEE_FLOAT: {0000000X-0000-0010-8000-00aa00389b71}
    Buffer.from([layout.extensible.float ? 3 : 1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]).copy(fmt, 32);
  }
  const list = Buffer.from('LIST\x04\x00\x00\x00INFO', 'latin1');
  const dataHeader = Buffer.alloc(8);
  dataHeader.write('data', 0, 'ascii');
  dataHeader.writeUInt32LE(data.length, 4);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(4 + list.length + fmt.length + dataHeader.length + data.length, 4);
  riff.write('WAVE', 8, 'ascii');
  return Buffer.concat([riff, list, fmt, dataHeader, data]);
}

t.test('every input format and layout plays as the exact device samples', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const server = await startInProcessApp(t, fileDeviceEnv(out));
  t.equal(server.engine.mode, 'device');
  let played = 0;
  const play = async (contentType: string, body: Buffer) => {
    const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const result = (await response.json()) as { frames: number };
    const size = statSync(out).size;
    const output = readFileSync(out).subarray(played, size);
    played = size;
    return { status: response.status, result, output };
  };

  const frames = 4800;
  const cases: [name: string, contentType: string, codec: Codec, channels: number, body: (data: Buffer) => Buffer][] = [];
  for (const [format, layout] of Object.entries(WAV_LAYOUTS)) {
    for (const channels of [1, 2, 6]) cases.push([`WAV ${format} ${channels} ch`, 'audio/wav', codecs[format]!, channels, (d) => wavFile(layout, channels, DEVICE_RATE, d)]);
  }
  cases.push(['WAV extensible PCM 24 valid bits in 32', 'audio/x-wav', codecs.S32_LE!, 2, (d) => wavFile({ formatTag: 1, bits: 32, extensible: { validBits: 24, float: false } }, 2, DEVICE_RATE, d)]);
  cases.push(['WAV extensible PCM 16', 'audio/wave', codecs.S16_LE!, 2, (d) => wavFile({ formatTag: 1, bits: 16, extensible: { validBits: 16, float: false } }, 2, DEVICE_RATE, d)]);
  cases.push(['WAV extensible float', 'audio/vnd.wave', codecs.FLOAT_LE!, 2, (d) => wavFile({ formatTag: 3, bits: 32, extensible: { validBits: 32, float: true } }, 2, DEVICE_RATE, d)]);
  cases.push(['audio/L16 mono', 'audio/L16;rate=48000', codecs.S16_BE!, 1, (d) => d]);
  cases.push(['audio/L16 stereo', 'audio/L16; rate=48000; channels=2', codecs.S16_BE!, 2, (d) => d]);
  cases.push(['audio/L24 stereo', 'audio/L24;rate="48000";channels=2', codecs.S24_3BE!, 2, (d) => d]);
  for (const [param, format] of [['s16le', 'S16_LE'], ['s24le', 'S24_3LE'], ['s32le', 'S32_LE'], ['f32le', 'FLOAT_LE']] as const) {
    cases.push([`audio/pcm ${param}`, `audio/pcm;rate=48000;channels=2;format=${param}`, codecs[format]!, 2, (d) => d]);
  }

  for (const [name, contentType, codec, channels, body] of cases) {
    const data = signal(codec, frames, channels);
    const { status, result, output } = await play(contentType, body(data));
    t.equal(status, 200, `${name}: 200`);
    t.equal(result.frames, frames, `${name}: ${frames} frames`);
    const expected = expectedDeviceFrames(codec, data, channels);
    let mismatches = 0;
    for (let i = 0; i < expected.length; i += 2) if (output.readInt16LE(i) !== expected.readInt16LE(i)) mismatches++;
    t.equal(output.length, expected.length, `${name}: length`);
    t.equal(mismatches, 0, `${name}: every sample exact`);
  }
});

t.test('resampled input comes out as a clean sine of the right frequency and length', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const server = await startInProcessApp(t, fileDeviceEnv(out));
  t.equal(server.engine.mode, 'device');
  let played = 0;
  for (const rate of [16000, 22050, 44100, 96000]) {
    const seconds = 1;
    const frequency = 997;
    const frames = rate * seconds;
    const data = Buffer.alloc(frames * 2);
    for (let i = 0; i < frames; i++) data.writeInt16LE(Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * frequency * i) / rate)), i * 2);
    const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': `audio/pcm;rate=${rate};channels=1;format=s16le` }, body: data });
    t.equal(response.status, 200, `${rate} Hz: 200`);
    const result = (await response.json()) as { frames: number; seconds: number };
    t.equal(result.frames, DEVICE_RATE * seconds, `${rate} Hz: exactly ${DEVICE_RATE * seconds} frames at 48 kHz`);
    const size = statSync(out).size;
    const output = readFileSync(out).subarray(played, size);
    played = size;
    t.equal(output.length, DEVICE_RATE * seconds * 4);
    // Skip 10 ms at each end, where the resampler's filter meets silence.
    const edge = DEVICE_RATE / 100;
    const left = new Float64Array(output.length / 4 - 2 * edge);
    for (let i = 0; i < left.length; i++) left[i] = output.readInt16LE((i + edge) * 4) / 32768;
    const snr = sineSnrDb(left, frequency, DEVICE_RATE);
    t.ok(snr > 60, `${rate} Hz → 48 kHz: a ${frequency} Hz sine with SNR ${snr.toFixed(1)} dB`);
    const offBy = sineSnrDb(left, frequency * 1.01, DEVICE_RATE);
    t.ok(offBy < 20, `and not a sine 1% off (${offBy.toFixed(1)} dB)`);
  }
});
