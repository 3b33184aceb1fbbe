// Picks the decoder for a request body by its Content-Type.
import { failure } from '../error-table';
import { parseContentType } from './content-type';
import type { BodyDecoder } from './decoder';
import { RAW_MEDIA_TYPES, RawDecoder, rawFormatFor, type RawMediaType } from './raw';
import { WavDecoder } from './wav';

/** The names WAV goes by: the registered one, and those browsers and tools send. */
export const WAV_MEDIA_TYPES: readonly string[] = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'];

export const SUPPORTED_CONTENT_TYPES: readonly string[] = [
  ...WAV_MEDIA_TYPES,
  'audio/L16;rate=R;channels=C',
  'audio/L24;rate=R;channels=C',
  'audio/pcm;rate=R;channels=C;format=s16le|s24le|s32le|f32le',
];

/** What a 415 tells the client to send instead. */
export const CONTENT_TYPE_HINT = `send one of: ${SUPPORTED_CONTENT_TYPES.join(', ')}`;

/** A decoder for a body of this Content-Type; throws E_UNSUPPORTED_MEDIA_TYPE (415) or, for raw types, E_INVALID_PARAMETER (400). */
export function decoderFor(contentType: string | undefined): BodyDecoder {
  const hint = CONTENT_TYPE_HINT;
  if (contentType === undefined || contentType.trim() === '') {
    throw failure('NO_CONTENT_TYPE', { hint });
  }
  const { essence, parameters } = parseContentType(contentType);
  if (WAV_MEDIA_TYPES.includes(essence)) return new WavDecoder();
  if (isRawMediaType(essence)) return new RawDecoder(rawFormatFor(essence, parameters));
  const shown = contentType.length > 100 ? `${contentType.slice(0, 100)}…` : contentType;
  throw failure('UNSUPPORTED_CONTENT_TYPE', { contentType: JSON.stringify(shown), hint });
}

function isRawMediaType(essence: string): essence is RawMediaType {
  return (RAW_MEDIA_TYPES as readonly string[]).includes(essence);
}
