// The typed face of the native converter: turns a stream's frames, in the
// format its client sent, into the device's format (sample format, channel
// map, sample rate through speexdsp's resampler). Synchronous: a chunk is
// converted on the request path before it is written to the stream's ring.
import { argumentError, checkInteger } from '../errors';
import { INPUT_SAMPLE_FORMATS, MAX_CHANNELS, MAX_RATE, MIN_RATE, type InputSampleFormat } from '../formats/audio-format';
import { addon } from './addon';
import { SAMPLE_FORMATS, type SampleFormat } from './native';

export const MAX_OUTPUT_CHANNELS = 32;
/** speexdsp's quality scale: 0 (fastest) to 10 (best); 5 is its "desktop" default. */
export const DEFAULT_QUALITY = 5;

export interface InputSpec {
  format: InputSampleFormat;
  rate: number;
  channels: number;
}

export interface OutputSpec {
  /** The device's sample format. */
  format: SampleFormat;
  rate: number;
  channels: number;
}

export interface ConverterOptions {
  from: InputSpec;
  to: OutputSpec;
  /** Resampler quality, 0 to 10. */
  quality?: number;
}

export interface Converter {
  /**
   * Converts whole input frames (else TypeError E_PARTIAL_FRAME); returns the
   * device-format frames they produce. A resampler holds back its filter's
   * latency until flush().
   */
  convert(chunk: Uint8Array): Buffer;
  /**
   * Ends the stream: returns the resampler's tail, so that the stream totals
   * round(inputFrames × to.rate / from.rate) frames, and frees the converter's
   * native memory at once. A converter serves one stream: convert() after
   * flush() throws E_CONVERTER_FLUSHED; flush() again returns an empty Buffer.
   */
  flush(): Buffer;
}

interface NativeConverterAddon {
  createConverter(options: Required<ConverterOptions>): Converter;
}

const native = addon as NativeConverterAddon;

function checkSpec<F extends string>(side: 'from' | 'to', spec: unknown, formats: readonly F[], maxChannels: number) {
  if (typeof spec !== 'object' || spec === null) throw argumentError(`${side} must be { format, rate, channels }`);
  const { format, rate, channels } = spec as Record<string, unknown>;
  if (!formats.includes(format as F)) {
    throw argumentError(`${side}.format must be one of ${formats.join(', ')}; got ${String(format)}`);
  }
  return {
    format: format as F,
    rate: checkInteger(`${side}.rate`, rate, MIN_RATE, MAX_RATE),
    channels: checkInteger(`${side}.channels`, channels, 1, maxChannels),
  };
}

/** Creates a converter for one stream. Throws a TypeError with code E_INVALID_ARG for bad options. */
export function createConverter(options: ConverterOptions): Converter {
  if (typeof options !== 'object' || options === null) throw argumentError('createConverter() needs an options object');
  return native.createConverter({
    from: checkSpec('from', options.from, INPUT_SAMPLE_FORMATS, MAX_CHANNELS),
    to: checkSpec('to', options.to, SAMPLE_FORMATS, MAX_OUTPUT_CHANNELS),
    quality: checkInteger('quality', options.quality ?? DEFAULT_QUALITY, 0, 10),
  });
}
