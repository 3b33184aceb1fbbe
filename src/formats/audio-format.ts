// The input formats a request body can carry once its header is read: the
// sample format exactly as the bytes arrive (no conversion happens here), the
// rate and the channel count. Conversion to the device format happens later,
// so every format a supported WAV or raw body can declare is listed here,
// including big-endian ones.

export const INPUT_SAMPLE_FORMATS = ['U8', 'S16_LE', 'S16_BE', 'S24_3LE', 'S24_3BE', 'S32_LE', 'FLOAT_LE', 'FLOAT64_LE'] as const;
export type InputSampleFormat = (typeof INPUT_SAMPLE_FORMATS)[number];

export interface AudioFormat {
  sampleFormat: InputSampleFormat;
  rate: number;
  channels: number;
}

/** Validation limits for what a body may declare. */
export const MAX_CHANNELS = 8;
export const MIN_RATE = 1000;
export const MAX_RATE = 384000;

const BYTES_PER_SAMPLE: Record<InputSampleFormat, number> = {
  U8: 1,
  S16_LE: 2,
  S16_BE: 2,
  S24_3LE: 3,
  S24_3BE: 3,
  S32_LE: 4,
  FLOAT_LE: 4,
  FLOAT64_LE: 8,
};

export function bytesPerSample(f: InputSampleFormat): number {
  return BYTES_PER_SAMPLE[f];
}

export function frameBytes(format: AudioFormat): number {
  return BYTES_PER_SAMPLE[format.sampleFormat] * format.channels;
}
