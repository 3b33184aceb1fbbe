// Compressed test files made by Debian's reference encoders (flac, opusenc,
// oggenc, lame) from a WAV written here, and decoded by the reference
// decoders (flac -d, opusdec --no-dither, oggdec, mpg123) for comparison.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type CompressedKind = 'flac' | 'opus' | 'vorbis' | 'mp3';

export const EXTENSIONS: Record<CompressedKind, string> = { flac: 'flac', opus: 'opus', vorbis: 'ogg', mp3: 'mp3' };

/**
 * A WAV file of PCM samples (S16_LE unless bits says otherwise). More than two
 * channels or 16 bits are written as WAVE_FORMAT_EXTENSIBLE with the default
 * speaker mask (FL FR FC LFE BL BR ...), which the encoders need to know the
 * channels' places.
 */
export function wavBytes(data: Buffer, rate: number, channels: number, bits = 16): Buffer {
  const extensible = channels > 2 || bits > 16;
  const fmt = Buffer.alloc(extensible ? 48 : 24);
  const blockAlign = channels * (bits / 8);
  fmt.write('fmt ', 0, 'ascii');
  fmt.writeUInt32LE(fmt.length - 8, 4);
  fmt.writeUInt16LE(extensible ? 0xfffe : 1, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE(rate * blockAlign, 16);
  fmt.writeUInt16LE(blockAlign, 20);
  fmt.writeUInt16LE(bits, 22);
  if (extensible) {
    fmt.writeUInt16LE(22, 24);
    fmt.writeUInt16LE(bits, 26);
    fmt.writeUInt32LE(2 ** channels - 1, 28);
    // KSDATAFORMAT_SUBTYPE_PCM
    Buffer.from([1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]).copy(fmt, 32);
  }
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(4 + fmt.length + 8 + data.length, 4);
  riff.write('WAVE', 8, 'ascii');
  const dataHeader = Buffer.alloc(8);
  dataHeader.write('data', 0, 'ascii');
  dataHeader.writeUInt32LE(data.length, 4);
  return Buffer.concat([riff, fmt, dataHeader, data]);
}

/** Each channel's tone: a few hundred Hz apart, and the fourth (LFE in 5.1) low enough for Opus's LFE filter. */
export const CHANNEL_TONES_HZ = [330, 550, 770, 90, 1210, 1430, 1650, 1870];

/** A tone per channel (CHANNEL_TONES_HZ), with a little noise: music-like enough for the lossy codecs. */
export function toneS16(frames: number, channels: number, rate: number, seed = 7): Buffer {
  const out = Buffer.alloc(frames * channels * 2);
  let state = seed;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const v = 0.45 * Math.sin((2 * Math.PI * CHANNEL_TONES_HZ[c]! * i) / rate) + 0.05 * (state / 2 ** 32 - 0.5);
      out.writeInt16LE(Math.round(v * 32767), (i * channels + c) * 2);
    }
  }
  return out;
}

/** Encodes a WAV file with the reference encoder; returns the compressed file's path. */
export function encode(kind: CompressedKind, wavPath: string, extraArgs: string[] = []): string {
  const out = wavPath.replace(/\.wav$/, '') + '.' + EXTENSIONS[kind];
  const run = (command: string, args: string[]) => execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (kind === 'flac') run('flac', ['--silent', '--force', ...extraArgs, '-o', out, wavPath]);
  if (kind === 'opus') run('opusenc', ['--quiet', ...extraArgs, wavPath, out]);
  if (kind === 'vorbis') run('oggenc', ['--quiet', ...extraArgs, '-o', out, wavPath]);
  if (kind === 'mp3') run('lame', ['--quiet', ...extraArgs, wavPath, out]);
  return out;
}

/** What the reference decoder makes of a file: its WAV's PCM data, and the WAV's format. */
export function referenceDecode(kind: CompressedKind, file: string): { data: Buffer; rate: number; channels: number; bits: number } {
  const out = `${file}.ref.wav`;
  const run = (command: string, args: string[]) => execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (kind === 'flac') run('flac', ['--silent', '--force', '-d', '-o', out, file]);
  if (kind === 'opus') run('opusdec', ['--quiet', '--no-dither', '--rate', '48000', file, out]);
  if (kind === 'vorbis') run('oggdec', ['--quiet', '-o', out, file]);
  if (kind === 'mp3') run('mpg123', ['--quiet', '-w', out, file]);
  return readWav(readFileSync(out));
}

/** The PCM data and format of a WAV file (the first fmt and data chunks). */
export function readWav(bytes: Buffer): { data: Buffer; rate: number; channels: number; bits: number } {
  let at = 12;
  let rate = 0;
  let channels = 0;
  let bits = 0;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString('latin1', at, at + 4);
    let size = bytes.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      channels = bytes.readUInt16LE(at + 10);
      rate = bytes.readUInt32LE(at + 12);
      bits = bytes.readUInt16LE(at + 22);
    }
    if (id === 'data') {
      // Streaming writers leave the size at 0 or 0xFFFFFFFF: the rest of the file.
      if (size === 0 || size === 0xffffffff || at + 8 + size > bytes.length) size = bytes.length - at - 8;
      return { data: bytes.subarray(at + 8, at + 8 + size), rate, channels, bits };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error('no data chunk');
}

/** Writes `data` as a WAV file in `dir` and returns its path. */
export function writeWav(dir: string, name: string, data: Buffer, rate: number, channels: number, bits = 16): string {
  const file = path.join(dir, `${name}.wav`);
  writeFileSync(file, wavBytes(data, rate, channels, bits));
  return file;
}

/** Signal-to-noise ratio of `actual` against `reference` (S16 interleaved, the same length), in dB. */
export function snrDb(reference: Buffer, actual: Buffer): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i + 1 < reference.length; i += 2) {
    const r = reference.readInt16LE(i);
    const d = r - actual.readInt16LE(i);
    signal += r * r;
    noise += d * d;
  }
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

/** Which of CHANNEL_TONES_HZ is strongest in channel `channel` of interleaved S16 audio. */
export function dominantTone(pcm: Buffer, channels: number, channel: number, rate: number): number {
  const frames = pcm.length / (2 * channels);
  let best = -1;
  let bestPower = -1;
  for (let k = 0; k < channels; k++) {
    let re = 0;
    let im = 0;
    const w = (2 * Math.PI * CHANNEL_TONES_HZ[k]!) / rate;
    for (let i = 0; i < frames; i++) {
      const v = pcm.readInt16LE((i * channels + channel) * 2);
      re += v * Math.cos(w * i);
      im += v * Math.sin(w * i);
    }
    if (re * re + im * im > bestPower) {
      bestPower = re * re + im * im;
      best = k;
    }
  }
  return best;
}

/** White noise, which FLAC stores nearly verbatim: the most FLAC bytes per second of audio. */
export function noiseS16(frames: number, channels: number, seed = 11): Buffer {
  const out = Buffer.alloc(frames * channels * 2);
  let state = seed;
  for (let i = 0; i < frames * channels; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out.writeInt16LE((state >>> 16) - 32768, i * 2);
  }
  return out;
}

/**
 * A FLAC file split into the part before its first frame (with STREAMINFO's
 * length and MD5 zeroed, as a streaming encoder leaves them) and its frames:
 * the frames may be sent again and again after the head, making a valid
 * stream of any length (libFLAC does not check frame numbers' order).
 */
export function flacHeadAndFrames(flac: Buffer): { head: Buffer; frames: Buffer } {
  let at = 4;
  for (;;) {
    const last = (flac[at]! & 0x80) !== 0;
    const length = flac.readUIntBE(at + 1, 3);
    at += 4 + length;
    if (last) break;
  }
  const head = Buffer.from(flac.subarray(0, at));
  // STREAMINFO's data starts at 8; its total samples are the low 4 bits of
  // byte 13 and bytes 14-17, the MD5 bytes 18-33.
  head[8 + 13] = head[8 + 13]! & 0xf0;
  head.fill(0, 8 + 14, 8 + 34);
  return { head, frames: flac.subarray(at) };
}

let webmMux: string | undefined;

/**
 * Remuxes an Ogg Opus file into WebM with libwebm's muxer (test/webm_mux.cc,
 * compiled once per process against deps/): packet for packet, so opusdec's
 * output for the Ogg file is the reference for the WebM. `live` writes what
 * MediaRecorder does: unknown sizes, no cues.
 */
export function webmFromOggOpus(opusPath: string, live = false): string {
  if (webmMux === undefined) {
    const root = path.resolve(__dirname, '..');
    const dir = mkdtempSync(path.join(tmpdir(), 'speakerd-webm-mux-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    webmMux = path.join(dir, 'webm_mux');
    const deps = path.join(root, 'deps');
    execFileSync('g++', ['-O1', '-std=c++17', '-o', webmMux, path.join(root, 'test', 'webm_mux.cc'),
      `-I${deps}/libwebm/include`, `-I${deps}/libogg/include`, `-I${deps}/opus/include/opus`,
      `${deps}/libwebm/lib/libwebm.a`, `${deps}/opus/lib/libopus.a`, `${deps}/libogg/lib/libogg.a`, '-lm'], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  const out = opusPath.replace(/\.opus$/, '') + (live ? '.live.webm' : '.webm');
  execFileSync(webmMux, [opusPath, out, ...(live ? ['live'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}
