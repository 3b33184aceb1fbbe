// The two ways a WAV body is refused, each with a hint a client can act on:
// a header that is broken, or a well-formed one that asks for something
// speakerd does not play.
import { failure } from '../error-table';
import type { SpeakerdError } from '../errors';

/** "send 16-bit PCM WAV", with the ffmpeg command that makes one from `input`. */
export function convertHint(input = 'in.wav'): string {
  return `send 16-bit PCM WAV, for example: ffmpeg -i ${input} -f wav -acodec pcm_s16le out.wav`;
}

const REWRITE_HINT = 'check the program that wrote the WAV; ffmpeg writes a valid one: ffmpeg -i in.wav -f wav -acodec pcm_s16le out.wav';

export function invalidWav(message: string, hint = REWRITE_HINT): SpeakerdError {
  return failure('INVALID_WAV', { message, hint });
}

export function unsupportedEncoding(message: string, hint = convertHint()): SpeakerdError {
  return failure('UNSUPPORTED_ENCODING', { message, hint });
}
