// The sample formats speakerd knows, in one table: the bytes of a sample of
// each, which of them a request body may carry (exactly as its bytes arrive:
// conversion happens later, so big-endian and 8-bit ones are here), and which
// a device may be opened with (AUDIO_FORMAT), and the rate and channel
// limits of each. Also the format a body declares once its header is read:
// sample format, rate and channel count.
//
// The addon states the same in native/src/audio_limits.h; these stay here
// as well because the configuration is checked without loading the addon,
// and TypeScript's types are made from them. engine/addon.ts refuses to
// start when the two disagree.

const BYTES_PER_SAMPLE = {
  U8: 1,
  S16_LE: 2,
  S16_BE: 2,
  S24_LE: 4,
  S24_3LE: 3,
  S24_3BE: 3,
  S32_LE: 4,
  FLOAT_LE: 4,
  FLOAT64_LE: 8,
} as const;

export type AnySampleFormat = keyof typeof BYTES_PER_SAMPLE;

/** What a WAV or raw body may declare. */
export const INPUT_SAMPLE_FORMATS = ['U8', 'S16_LE', 'S16_BE', 'S24_3LE', 'S24_3BE', 'S32_LE', 'FLOAT_LE', 'FLOAT64_LE'] as const satisfies readonly AnySampleFormat[];
export type InputSampleFormat = (typeof INPUT_SAMPLE_FORMATS)[number];

/** What a device may be opened with, and every frame written to its streams is in. */
export const SAMPLE_FORMATS = ['S16_LE', 'S24_LE', 'S24_3LE', 'S32_LE', 'FLOAT_LE'] as const satisfies readonly AnySampleFormat[];
export type SampleFormat = (typeof SAMPLE_FORMATS)[number];

export interface AudioFormat {
  sampleFormat: InputSampleFormat;
  rate: number;
  channels: number;
}

/** What a body may declare. */
export const MAX_CHANNELS = 8;
export const MIN_RATE = 1000;
export const MAX_RATE = 384000;

/** What a device may be opened with (its rate up to MAX_RATE). */
export const MIN_DEVICE_RATE = 8000;
export const MAX_DEVICE_CHANNELS = 32;

export function bytesPerSample(format: AnySampleFormat): number {
  return BYTES_PER_SAMPLE[format];
}

/** The bytes of one frame of a body's format. */
export function frameBytes(format: AudioFormat): number {
  return BYTES_PER_SAMPLE[format.sampleFormat] * format.channels;
}

/** The bytes of one frame of `channels` samples of `format`. */
export function bytesPerFrame(format: AnySampleFormat, channels: number): number {
  return BYTES_PER_SAMPLE[format] * channels;
}
