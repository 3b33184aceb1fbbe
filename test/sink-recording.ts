// What a clock sink played, and when: its timeline (one line per period,
// "<CLOCK_REALTIME ns> <frames since open>") and the recording of alsa-lib's
// file PCM layered on it, whose frame offsets are the timeline's counts.
import { readFileSync } from 'node:fs';

export type TimelineLine = [ns: bigint, frames: bigint];

export function readTimeline(file: string): TimelineLine[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((line) => line.split(' ').map(BigInt) as TimelineLine);
}

/** When device frame `frame` played, CLOCK_REALTIME ns: the last line at or before it, plus the sink's exact rate × (1 + ppm). */
export function playedAtNs(lines: TimelineLine[], frame: number, ppm: number, rate = 48000): bigint {
  let line = lines[0]!;
  for (const candidate of lines) {
    if (candidate[1] > BigInt(frame)) break;
    line = candidate;
  }
  return line[0] + ((BigInt(frame) - line[1]) * 10n ** 18n) / (BigInt(rate) * (1_000_000_000n + BigInt(Math.round(ppm * 1000))));
}

/** `seconds` of S16 stereo silence with a one-frame pulse of 20000 every `every` frames: markers. */
export function markedStream(seconds: number, every: number, rate = 48000): Buffer {
  const out = Buffer.alloc(seconds * rate * 4);
  for (let frame = 0; frame < seconds * rate; frame += every) {
    out.writeInt16LE(20000, frame * 4);
    out.writeInt16LE(20000, frame * 4 + 2);
  }
  return out;
}

/** The frames of the pulses in an S16 stereo recording: each peak, which the resampler smears over a few frames. */
export function pulseFrames(raw: string): number[] {
  const samples = new Int16Array(readFileSync(raw).buffer.slice(0));
  const peaks: number[] = [];
  for (let frame = 1; frame < samples.length / 2 - 1; frame++) {
    const value = samples[frame * 2]!;
    if (value > 10000 && value >= samples[(frame - 1) * 2]! && value > samples[(frame + 1) * 2]!) peaks.push(frame);
  }
  return peaks;
}
