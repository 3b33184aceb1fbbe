// The typed face of the native converter on its own: turns frames in the
// format a client sent into a device's format (sample format, channel map,
// sample rate through speexdsp's resampler), whole buffers at a time. A
// playing stream does not use it: its native stream converts straight into
// its ring (Stream.setInputFormat). This is for tools and for testing the
// conversion rules by themselves.
import { argumentError } from '../errors';
import { addon } from './addon';
import { DEFAULT_RESAMPLER_QUALITY, checkInputFormat, checkOutputFormat, checkResamplerQuality, type InputFormat, type OutputFormat } from './format-checks';

export type InputSpec = InputFormat;
export type OutputSpec = OutputFormat;

export interface ConverterOptions {
  from: InputSpec;
  to: OutputSpec;
  /** Resampler quality, 0 to 10. */
  quality?: number;
  /**
   * Always resample, even at one rate, so that steer() can move the ratio,
   * as a timed stream's clock lock does (at one rate by a four-point
   * interpolator, which ignores quality).
   */
  steerable?: boolean;
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
  /**
   * A steerable converter only: source frames per output frame from the
   * next output frame on, within 10 % of from.rate / to.rate.
   */
  steer(sourcePerOutput: number): void;
}

interface NativeConverterAddon {
  createConverter(options: Required<ConverterOptions>): Converter;
}

const native = addon as NativeConverterAddon;

/** Creates a converter for one stream. Throws a TypeError with code E_INVALID_ARG for bad options. */
export function createConverter(options: ConverterOptions): Converter {
  if (typeof options !== 'object' || options === null) throw argumentError('createConverter() needs an options object');
  return native.createConverter({
    from: checkInputFormat('from', options.from),
    to: checkOutputFormat('to', options.to),
    quality: checkResamplerQuality(options.quality ?? DEFAULT_RESAMPLER_QUALITY),
    steerable: options.steerable === true,
  });
}
