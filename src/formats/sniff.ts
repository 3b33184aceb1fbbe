// What a body is, by its first bytes: the container's magic, and for Ogg the
// codec of its first page. Used when the Content-Type says nothing useful
// (none, application/octet-stream, or curl's application/x-www-form-urlencoded),
// and to check a declared type against the bytes (E_FORMAT_MISMATCH).

/** What the first bytes show. `aac` and Ogg of another codec are recognised to name them, not played. */
export type BodyKind = 'wav' | 'flac' | 'opus' | 'vorbis' | 'ogg' | 'mp3' | 'webm' | 'aac';

/** How a body kind is named to a client. */
export const BODY_KIND_NAMES: Record<BodyKind, string> = {
  wav: 'WAV (RIFF/RF64/BW64)',
  flac: 'FLAC',
  opus: 'Ogg Opus',
  vorbis: 'Ogg Vorbis',
  ogg: 'Ogg with neither Opus nor Vorbis in its first page',
  mp3: 'MPEG audio (MP3)',
  webm: 'WebM/Matroska (Opus)',
  aac: 'AAC in ADTS frames',
};

const OGG_HEADER_BYTES = 27;
const OGG_MAX_SEGMENTS = 255;

/** Bytes after which a body that matched nothing never will: an Ogg page header with the most segments, and a codec's magic. */
export const SNIFF_BYTES = OGG_HEADER_BYTES + OGG_MAX_SEGMENTS + 8;

/**
 * The kind of a body that starts with `head`; 'more' when more bytes could
 * still decide; undefined when nothing matches.
 */
export function sniff(head: Buffer): BodyKind | 'more' | undefined {
  const kind = sniffBytes(head);
  // Nothing is called unknown before DESCRIBED_BYTES are in (or the body
  // ends), so that a client hears the same bytes described however they arrived.
  if (kind === undefined) return head.length < DESCRIBED_BYTES ? 'more' : undefined;
  return kind === 'more' && head.length >= SNIFF_BYTES ? undefined : kind;
}

/** How many first bytes an unknown body is described by. */
export const DESCRIBED_BYTES = 8;

function sniffBytes(head: Buffer): BodyKind | 'more' | undefined {
  if (head.length < 4) return startsAny(head, ['RIFF', 'RF64', 'BW64', 'fLaC', 'OggS', 'ID3', '\x1a\x45\xdf\xa3']) || mpegSync(head) !== undefined ? 'more' : undefined;
  const magic = head.toString('latin1', 0, 4);
  if (magic === 'RIFF' || magic === 'RF64' || magic === 'BW64') return 'wav';
  if (magic === 'fLaC') return 'flac';
  if (magic === 'OggS') return oggCodec(head);
  if (magic.startsWith('ID3')) return 'mp3';
  if (magic === '\x1a\x45\xdf\xa3') return 'webm';
  return mpegSync(head);
}

// The first page's first packet: an OpusHead, or a Vorbis identification header.
function oggCodec(head: Buffer): BodyKind | 'more' {
  if (head.length < OGG_HEADER_BYTES) return 'more';
  const segments = head[26];
  const packet = OGG_HEADER_BYTES + segments;
  if (head.length < packet + 8) return 'more';
  if (head.toString('latin1', packet, packet + 8) === 'OpusHead') return 'opus';
  if (head.toString('latin1', packet, packet + 7) === '\x01vorbis') return 'vorbis';
  return 'ogg';
}

// An MPEG audio frame header: 11 sync bits, then version, layer, bitrate and
// sample-rate fields with their reserved values excluded. Layer bits 00 are
// ADTS, which carries AAC.
function mpegSync(head: Buffer): BodyKind | undefined {
  if (head.length < 1 || head[0] !== 0xff) return undefined;
  if (head.length < 3) return head.length < 2 || (head[1] & 0xe0) === 0xe0 ? 'mp3' : undefined;
  if ((head[1] & 0xe0) !== 0xe0) return undefined;
  const version = (head[1] >> 3) & 3;
  const layer = (head[1] >> 1) & 3;
  if (layer === 0) return (head[1] & 0xf0) === 0xf0 ? 'aac' : undefined;
  const bitrate = head[2] >> 4;
  const rate = (head[2] >> 2) & 3;
  if (version === 1 || bitrate === 15 || rate === 3) return undefined;
  return 'mp3';
}

function startsAny(head: Buffer, prefixes: string[]): boolean {
  const text = head.toString('latin1');
  return prefixes.some((prefix) => prefix.startsWith(text));
}
