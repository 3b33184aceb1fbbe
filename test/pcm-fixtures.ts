// Test PCMs and signals. Everything is generated: no audio files are stored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A scratch folder removed at the end of the test. */
export function scratchDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'speakerd-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** ALSA config text defining `name` as a file PCM that records raw frames to `file`, bit-exact. */
export function filePcmConfig(name: string, file: string): string {
  return `pcm.${name} { type file slave.pcm null file "${file}" format raw }`;
}

/** Deterministic, full-range S16 samples that differ in every channel. */
export function s16Pattern(frames: number, channels: number, seed = 1): Buffer {
  const buf = Buffer.alloc(frames * channels * 2);
  let x = seed >>> 0;
  for (let i = 0; i < frames * channels; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    buf.writeInt16LE((x >>> 16) - 32768, i * 2);
  }
  return buf;
}

/** Deterministic S32 samples covering the full 32-bit range. */
export function s32Pattern(frames: number, channels: number, seed = 1): Buffer {
  const buf = Buffer.alloc(frames * channels * 4);
  let x = seed >>> 0;
  for (let i = 0; i < frames * channels; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    buf.writeInt32LE(x | 0, i * 4);
  }
  return buf;
}

/** A constant S16 value in every sample. */
export function s16Constant(frames: number, channels: number, value: number): Buffer {
  const buf = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames * channels; i++) buf.writeInt16LE(value, i * 2);
  return buf;
}

export function openFdCount(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node:fs').readdirSync('/proc/self/fd').length;
}

export function threadCount(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const status: string = require('node:fs').readFileSync('/proc/self/status', 'utf8');
  return Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]);
}

/** Rounds as the engine does (lrintf in the default mode): halves go to the even neighbour. */
export function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** S16 stereo frames whose left and right samples are given frame by frame. */
export function s16Stereo(frames: number, left: (frame: number) => number, right: (frame: number) => number): Buffer {
  const buf = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    buf.writeInt16LE(left(i), i * 4);
    buf.writeInt16LE(right(i), i * 4 + 2);
  }
  return buf;
}

/** One channel of interleaved S16 frames. */
export function s16Channel(buf: Buffer, channels: number, channel: number): Int16Array {
  const frames = buf.length / (2 * channels);
  const out = new Int16Array(frames);
  for (let i = 0; i < frames; i++) out[i] = buf.readInt16LE((i * channels + channel) * 2);
  return out;
}

/** Deterministic full-range S16 values, one per frame (a signal to find again, bit for bit). */
export function noise(seed: number): (frame: number) => number {
  const values: number[] = [];
  let x = seed >>> 0;
  return (frame) => {
    while (values.length <= frame) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      values.push((x >>> 16) - 32768);
    }
    return values[frame]!;
  };
}
