// Headerless bodies, whose format is all in the Content-Type parameters:
// audio/L16 and audio/L24 (big-endian, RFC 2586 / RFC 3190) and audio/pcm
// (little-endian, format named by a parameter).
import { failure } from '../error-table';
import type { SpeakerdError } from '../errors';
import { MAX_CHANNELS, MAX_RATE, MIN_RATE, frameBytes, type AudioFormat, type InputSampleFormat } from './audio-format';
import type { MediaType } from './content-type';
import type { BodyDecoder } from './decoder';
import { FrameSplitter } from './frame-splitter';

export type RawMediaType = 'audio/l16' | 'audio/l24' | 'audio/pcm';
export const RAW_MEDIA_TYPES: readonly RawMediaType[] = ['audio/l16', 'audio/l24', 'audio/pcm'];

// A Map, not an object literal: "format=constructor" must not find anything.
const PCM_FORMATS = new Map<string, InputSampleFormat>([
  ['s16le', 'S16_LE'],
  ['s24le', 'S24_3LE'],
  ['s32le', 'S32_LE'],
  ['f32le', 'FLOAT_LE'],
]);

interface RawTypeRule {
  /** The spelling used in messages. */
  name: string;
  example: string;
  /** undefined: the format parameter chooses. */
  sampleFormat: InputSampleFormat | undefined;
  /** undefined: channels is required. RFC 2586 and RFC 3190 default it to 1. */
  defaultChannels: number | undefined;
}

const RULES: Record<RawMediaType, RawTypeRule> = {
  'audio/l16': { name: 'audio/L16', example: 'audio/L16;rate=16000;channels=1', sampleFormat: 'S16_BE', defaultChannels: 1 },
  'audio/l24': { name: 'audio/L24', example: 'audio/L24;rate=48000;channels=2', sampleFormat: 'S24_3BE', defaultChannels: 1 },
  'audio/pcm': { name: 'audio/pcm', example: 'audio/pcm;rate=48000;channels=2;format=s16le', sampleFormat: undefined, defaultChannels: undefined },
};

export class RawDecoder implements BodyDecoder {
  readonly format: AudioFormat;
  readonly codec = undefined;
  /** Raw audio runs to the end of the body. */
  readonly finished = false;
  #splitter: FrameSplitter;

  constructor(format: AudioFormat) {
    this.format = format;
    this.#splitter = new FrameSplitter(frameBytes(format));
  }

  write(chunk: Buffer): Buffer[] {
    return this.#splitter.split(chunk);
  }

  end(): { truncated: boolean } {
    return { truncated: this.#splitter.partialBytes > 0 };
  }
}

/** Reads the format of a raw body from its Content-Type parameters; throws E_INVALID_PARAMETER (400). */
export function rawFormatFor(type: RawMediaType, parameters: MediaType['parameters']): AudioFormat {
  const rule = RULES[type];
  const reader = new ParameterReader(rule, parameters);
  const rate = reader.integer('rate', undefined, MIN_RATE, MAX_RATE, 'a whole number of Hz');
  const channels = reader.integer('channels', rule.defaultChannels, 1, MAX_CHANNELS, 'a whole number');
  return { sampleFormat: rule.sampleFormat ?? reader.pcmFormat(), rate, channels };
}

class ParameterReader {
  #rule: RawTypeRule;
  #parameters: MediaType['parameters'];

  constructor(rule: RawTypeRule, parameters: MediaType['parameters']) {
    this.#rule = rule;
    this.#parameters = parameters;
  }

  integer(name: string, fallback: number | undefined, min: number, max: number, what: string): number {
    const hint = `${name} must be ${what} from ${min} to ${max}, for example ${this.#rule.example}`;
    const value = this.#value(name, hint);
    if (value === undefined) {
      if (fallback !== undefined) return fallback;
      throw invalid(`${name} is required for ${this.#rule.name}`, hint);
    }
    const shown = `${name}=${display(value)}`;
    if (!/^[0-9]+$/.test(value)) throw invalid(`${shown} is not a whole number`, hint);
    const number = Number(value);
    // A zero is a plain mistake: the value alone says it.
    if (number === 0) throw invalid(shown, hint);
    if (number < min) throw invalid(`${shown} is less than ${min}`, hint);
    if (number > max) throw invalid(`${shown} is more than ${max}`, hint);
    return number;
  }

  pcmFormat(): InputSampleFormat {
    const names = [...PCM_FORMATS.keys()].join(', ');
    const hint = `format must be one of ${names} (s24le is 3-byte packed), for example ${this.#rule.example}`;
    const value = this.#value('format', hint);
    if (value === undefined) throw invalid(`format is required for ${this.#rule.name}`, hint);
    const format = PCM_FORMATS.get(value.toLowerCase());
    if (format === undefined) throw invalid(`format=${display(value)} is not one of ${names}`, hint);
    return format;
  }

  #value(name: string, hint: string): string | undefined {
    const values = this.#parameters.filter(([n]) => n === name).map(([, v]) => v);
    if (values.length > 1) {
      throw invalid(`${name} is given ${values.length} times (${values.map((v) => `${name}=${display(v)}`).join(', ')})`, hint);
    }
    return values[0];
  }
}

function invalid(message: string, hint: string): SpeakerdError {
  return failure('INVALID_FORMAT_PARAMETER', { message, hint });
}

/** A value as it can be shown inside a message: quoted when it would be ambiguous, and never huge. */
function display(value: string): string {
  const short = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return /^[A-Za-z0-9._+-]+$/.test(short) ? short : JSON.stringify(short);
}
