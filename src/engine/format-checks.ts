// Checks a format before it crosses into C++, where a bad value would be a
// crash or a silent misreading: the input side of a conversion (what a body
// may carry) and its output side (what a device may be opened with).
import { argumentError, checkInteger } from '../errors';
import {
  INPUT_SAMPLE_FORMATS,
  MAX_CHANNELS,
  MAX_DEVICE_CHANNELS,
  MAX_RATE,
  MIN_RATE,
  SAMPLE_FORMATS,
  type InputSampleFormat,
  type SampleFormat,
} from '../formats/audio-format';

/** speexdsp's quality scale: 0 (fastest) to 10 (best); 5 is its "desktop" default. */
export const DEFAULT_RESAMPLER_QUALITY = 5;

/** Frames as a body carries them, named as alsa-lib names sample formats. */
export interface InputFormat {
  format: InputSampleFormat;
  rate: number;
  channels: number;
}

/** Frames in a device's format. */
export interface OutputFormat {
  format: SampleFormat;
  rate: number;
  channels: number;
}

function checkFormat<F extends string>(name: string, spec: unknown, formats: readonly F[], maxChannels: number) {
  if (typeof spec !== 'object' || spec === null) throw argumentError(`${name} must be { format, rate, channels }`);
  const { format, rate, channels } = spec as Record<string, unknown>;
  if (!formats.includes(format as F)) {
    throw argumentError(`${name}.format must be one of ${formats.join(', ')}; got ${String(format)}`);
  }
  return {
    format: format as F,
    rate: checkInteger(`${name}.rate`, rate, MIN_RATE, MAX_RATE),
    channels: checkInteger(`${name}.channels`, channels, 1, maxChannels),
  };
}

/** Throws a TypeError E_INVALID_ARG unless `spec` is an InputFormat. */
export function checkInputFormat(name: string, spec: unknown): InputFormat {
  return checkFormat(name, spec, INPUT_SAMPLE_FORMATS, MAX_CHANNELS);
}

/** Throws a TypeError E_INVALID_ARG unless `spec` is an OutputFormat. */
export function checkOutputFormat(name: string, spec: unknown): OutputFormat {
  return checkFormat(name, spec, SAMPLE_FORMATS, MAX_DEVICE_CHANNELS);
}

export function checkResamplerQuality(quality: unknown): number {
  return checkInteger('quality', quality, 0, 10);
}
