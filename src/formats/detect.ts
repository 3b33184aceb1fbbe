// Picks the decoder for a request body by its Content-Type, and by its first
// bytes where the type says nothing useful (sniffed.ts).
import { failure } from '../error-table';
import { parseContentType } from './content-type';
import type { BodyDecoder } from './decoder';
import { RAW_MEDIA_TYPES, RawDecoder, rawFormatFor, type RawMediaType } from './raw';
import type { BodyKind } from './sniff';
import { SniffedDecoder } from './sniffed';

/** The names WAV goes by: the registered one, and those browsers and tools send. */
export const WAV_MEDIA_TYPES: readonly string[] = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'];

/** Compressed types, and the kinds of body each may carry. */
const COMPRESSED_MEDIA_TYPES: Readonly<Record<string, readonly BodyKind[]>> = {
  'audio/flac': ['flac'],
  'audio/x-flac': ['flac'],
  'audio/ogg': ['opus', 'vorbis'],
  'audio/opus': ['opus'],
  'audio/mpeg': ['mp3'],
  'audio/mp3': ['mp3'],
  'audio/webm': ['webm'],
};

/** Types that say nothing about the audio (curl --data-binary sends the last): the first bytes decide. */
const SNIFFED_MEDIA_TYPES: readonly string[] = ['application/octet-stream', 'application/x-www-form-urlencoded'];

/** An Ogg type's codecs= values, and the kind each names (RFC 7845, RFC 5334). */
const OGG_CODECS: Readonly<Record<string, BodyKind>> = { opus: 'opus', vorbis: 'vorbis' };

export const SUPPORTED_CONTENT_TYPES: readonly string[] = [
  ...WAV_MEDIA_TYPES,
  'audio/L16;rate=R;channels=C',
  'audio/L24;rate=R;channels=C',
  'audio/pcm;rate=R;channels=C;format=s16le|s24le|s32le|f32le',
  'audio/flac',
  'audio/ogg (Opus or Vorbis; codecs= honoured)',
  'audio/opus',
  'audio/mpeg',
  'audio/mp3',
  'audio/webm (Opus)',
  'none or application/octet-stream (the first bytes decide)',
];

/** What a 415 tells the client to send instead. */
export const CONTENT_TYPE_HINT = `send one of: ${SUPPORTED_CONTENT_TYPES.join(', ')}`;

/** A decoder for a body of this Content-Type; throws E_UNSUPPORTED_MEDIA_TYPE (415) or E_INVALID_PARAMETER (400). */
export function decoderFor(contentType: string | undefined): BodyDecoder {
  const hint = CONTENT_TYPE_HINT;
  if (contentType === undefined || contentType.trim() === '') return new SniffedDecoder(undefined, hint);
  const { essence, parameters } = parseContentType(contentType);
  if (SNIFFED_MEDIA_TYPES.includes(essence)) return new SniffedDecoder(undefined, hint);
  if (isRawMediaType(essence)) return new RawDecoder(rawFormatFor(essence, parameters));
  const shown = contentType.length > 100 ? `${contentType.slice(0, 100)}…` : contentType;
  if (WAV_MEDIA_TYPES.includes(essence)) return new SniffedDecoder({ contentType: shown, kinds: ['wav'] }, hint);
  const kinds = Object.hasOwn(COMPRESSED_MEDIA_TYPES, essence) ? COMPRESSED_MEDIA_TYPES[essence] : undefined;
  if (kinds === undefined) throw failure('UNSUPPORTED_CONTENT_TYPE', { contentType: JSON.stringify(shown), hint });
  if (essence === 'audio/webm') checkWebmCodecs(parameters, shown, hint);
  return new SniffedDecoder({ contentType: shown, kinds: essence === 'audio/ogg' ? oggKinds(parameters, shown, hint) : kinds }, hint);
}

// audio/webm; codecs=opus (MediaRecorder's): speakerd decodes Opus only.
function checkWebmCodecs(parameters: [string, string][], shown: string, hint: string): void {
  const codecs = parameters.find(([name]) => name === 'codecs');
  if (codecs === undefined) return;
  if (codecs[1].split(',').every((c) => c.trim().toLowerCase() === 'opus')) return;
  throw failure('UNSUPPORTED_CONTENT_TYPE', { contentType: JSON.stringify(shown), hint: `speakerd plays WebM with codecs=opus; ${hint}` });
}

// audio/ogg; codecs=opus (or "vorbis", or a list): only those may play.
function oggKinds(parameters: [string, string][], shown: string, hint: string): BodyKind[] {
  const codecs = parameters.find(([name]) => name === 'codecs');
  if (codecs === undefined) return ['opus', 'vorbis'];
  const kinds: BodyKind[] = [];
  for (const name of codecs[1].split(',').map((c) => c.trim().toLowerCase())) {
    const kind = Object.hasOwn(OGG_CODECS, name) ? OGG_CODECS[name] : undefined;
    if (kind === undefined) throw failure('UNSUPPORTED_CONTENT_TYPE', { contentType: JSON.stringify(shown), hint: `speakerd plays Ogg with codecs=opus or codecs=vorbis; ${hint}` });
    kinds.push(kind);
  }
  return kinds;
}

function isRawMediaType(essence: string): essence is RawMediaType {
  return (RAW_MEDIA_TYPES as readonly string[]).includes(essence);
}
