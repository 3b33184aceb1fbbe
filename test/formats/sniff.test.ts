// Telling a body by its first bytes, and holding a declared type to them.
import t from 'tap';
import { SpeakerdError } from '../../src/errors';
import { decoderFor } from '../../src/formats/detect';
import { sniff, SNIFF_BYTES } from '../../src/formats/sniff';
import { thrown } from './fixtures/bodies';

/** The start of an Ogg stream whose first packet begins with `packet`. */
function oggPage(packet: string, segments = 1): Buffer {
  const header = Buffer.alloc(27 + segments);
  header.write('OggS', 0, 'latin1');
  header[5] = 2; // beginning of stream
  header[26] = segments;
  header.fill(19, 27);
  return Buffer.concat([header, Buffer.from(packet, 'latin1'), Buffer.alloc(11)]);
}

const BODIES: [name: string, bytes: Buffer, kind: string][] = [
  ['RIFF', Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), 'wav'],
  ['RF64', Buffer.from('RF64\xff\xff\xff\xffWAVEds64', 'latin1'), 'wav'],
  ['BW64', Buffer.from('BW64\xff\xff\xff\xffWAVEds64', 'latin1'), 'wav'],
  ['fLaC', Buffer.from('fLaC\x00\x00\x00\x22', 'latin1'), 'flac'],
  ['Ogg Opus', oggPage('OpusHead\x01\x02'), 'opus'],
  ['Ogg Vorbis', oggPage('\x01vorbis\x00\x00'), 'vorbis'],
  ['Ogg Vorbis, a first page of 255 segments', oggPage('\x01vorbis\x00\x00', 255), 'vorbis'],
  ['Ogg FLAC', oggPage('\x7fFLAC\x01\x00'), 'ogg'],
  ['ID3v2', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), 'mp3'],
  ['MPEG-1 layer III frame sync', Buffer.from([0xff, 0xfb, 0x90, 0x64, 0x00]), 'mp3'],
  ['MPEG-2 layer III frame sync', Buffer.from([0xff, 0xf3, 0x48, 0xc4, 0x00]), 'mp3'],
  ['ADTS (AAC)', Buffer.from([0xff, 0xf1, 0x50, 0x80, 0x00]), 'aac'],
  ['EBML (WebM)', Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86]), 'webm'],
];

t.test('each magic is told from the first bytes, however they are split', async (t) => {
  for (const [name, bytes, kind] of BODIES) {
    t.equal(sniff(bytes), kind, name);
    // Every shorter prefix asks for more or already knows; none is wrong.
    for (let n = 0; n < bytes.length; n++) {
      const early = sniff(bytes.subarray(0, n));
      t.ok(early === 'more' || early === kind, `${name}: ${n} bytes say ${String(early)}`);
    }
  }
});

t.test('bytes of no audio format are nothing once 8 are in, or after SNIFF_BYTES', async (t) => {
  const eight = (bytes: number[]) => Buffer.concat([Buffer.from(bytes), Buffer.alloc(8 - bytes.length)]);
  t.equal(sniff(Buffer.from('<html>')), 'more', 'text: 6 bytes are not enough to describe it');
  t.equal(sniff(Buffer.from('<html><b')), undefined, 'text');
  t.equal(sniff(eight([0xff, 0x00, 0x00, 0x00])), undefined, 'a lone 0xff');
  t.equal(sniff(eight([0xff, 0xfb, 0xf0, 0x00])), undefined, 'a frame sync with the reserved bitrate 1111');
  t.equal(sniff(eight([0xff, 0xfb, 0x9c, 0x00])), undefined, 'a frame sync with the reserved rate 11');
  t.equal(sniff(eight([0xff, 0xeb, 0x90, 0x00])), undefined, 'a frame sync with the reserved version 01');
  const longOggHeader = oggPage('OpusHead', 255).subarray(0, SNIFF_BYTES - 1);
  t.equal(sniff(longOggHeader), 'more', 'an Ogg page whose first packet is still to come');
});

/** Feeds bytes to a decoder one at a time; returns the error thrown, if any. */
function feed(contentType: string | undefined, bytes: Buffer): { error: SpeakerdError | undefined; codec: string | undefined } {
  const decoder = decoderFor(contentType);
  const error = thrown(() => {
    for (let i = 0; i < bytes.length; i++) decoder.write(bytes.subarray(i, i + 1));
  }) as SpeakerdError | undefined;
  return { error, codec: decoder.codec };
}

t.test('with no type, a generic one or curl\'s default, the bytes pick the decoder', async (t) => {
  for (const contentType of [undefined, 'application/octet-stream', 'application/x-www-form-urlencoded']) {
    for (const [name, bytes, kind] of BODIES.filter(([, , k]) => ['flac', 'opus', 'vorbis', 'mp3', 'webm'].includes(k))) {
      const { error, codec } = feed(contentType, bytes);
      t.equal(error, undefined, `${String(contentType)}: ${name} is taken`);
      t.equal(codec, kind, `${String(contentType)}: ${name} goes to the ${kind} decoder`);
    }
  }
});

t.test('with no type, a body of no playable format is a 415 naming what it is', async (t) => {
  const cases: [Buffer, string][] = [
    [BODIES.find(([n]) => n === 'ADTS (AAC)')![1], 'the request declares no audio type, and its body is AAC in ADTS frames'],
    [BODIES.find(([n]) => n === 'Ogg FLAC')![1], 'the request declares no audio type, and its body is Ogg with neither Opus nor Vorbis in its first page'],
    [Buffer.from('{"text":"hello"}'), 'the request declares no audio type, and its body is bytes of no known audio format (starts with 7b 22 74 65 78 74 22 3a)'],
  ];
  for (const [bytes, message] of cases) {
    const { error } = feed(undefined, bytes);
    t.match(error, { code: 'E_UNSUPPORTED_MEDIA_TYPE', statusCode: 415, message }, message);
    t.match(error?.hint, /^send one of: audio\/wav/, 'the hint lists what plays');
  }
  const decoder = decoderFor('application/octet-stream');
  decoder.write(Buffer.from('RI'));
  t.match(thrown(() => decoder.end()), { code: 'E_UNSUPPORTED_MEDIA_TYPE', statusCode: 415, message: 'the request declares no audio type, and its body is bytes of no known audio format (starts with 52 49)' }, 'a body that ends before it can be told');
  t.match(thrown(() => decoderFor(undefined).end()), { code: 'E_UNSUPPORTED_MEDIA_TYPE', message: 'the request declares no audio type, and its body is an empty body' }, 'an empty body');
});

t.test('a declared type whose bytes are another format is E_FORMAT_MISMATCH, naming both', async (t) => {
  const body = (name: string) => BODIES.find(([n]) => n === name)![1];
  const cases: [string, Buffer, string][] = [
    ['audio/flac', body('Ogg Opus'), 'the Content-Type audio/flac declares FLAC, but the body is Ogg Opus'],
    ['audio/wav', body('fLaC'), 'the Content-Type audio/wav declares WAV (RIFF/RF64/BW64), but the body is FLAC'],
    ['audio/mpeg', body('RIFF'), 'the Content-Type audio/mpeg declares MPEG audio (MP3), but the body is WAV (RIFF/RF64/BW64)'],
    ['audio/ogg', body('ID3v2'), 'the Content-Type audio/ogg declares Ogg Opus or Ogg Vorbis, but the body is MPEG audio (MP3)'],
    ['audio/ogg; codecs=opus', body('Ogg Vorbis'), 'the Content-Type audio/ogg; codecs=opus declares Ogg Opus, but the body is Ogg Vorbis'],
    ['audio/ogg; codecs="vorbis"', body('Ogg Opus'), 'the Content-Type audio/ogg; codecs="vorbis" declares Ogg Vorbis, but the body is Ogg Opus'],
    ['audio/opus', body('Ogg FLAC'), 'the Content-Type audio/opus declares Ogg Opus, but the body is Ogg with neither Opus nor Vorbis in its first page'],
    ['audio/mp3', body('ADTS (AAC)'), 'the Content-Type audio/mp3 declares MPEG audio (MP3), but the body is AAC in ADTS frames'],
    ['audio/webm', body('Ogg Opus'), 'the Content-Type audio/webm declares WebM/Matroska (Opus), but the body is Ogg Opus'],
    ['audio/ogg', body('EBML (WebM)'), 'the Content-Type audio/ogg declares Ogg Opus or Ogg Vorbis, but the body is WebM/Matroska (Opus)'],
    ['audio/flac', Buffer.from('hello world'), 'the Content-Type audio/flac declares FLAC, but the body is bytes of no known audio format (starts with 68 65 6c 6c 6f 20 77 6f)'],
  ];
  for (const [contentType, bytes, message] of cases) {
    const { error } = feed(contentType, bytes);
    t.match(error, { code: 'E_FORMAT_MISMATCH', statusCode: 400, message }, message);
    t.match(error?.hint, /application\/octet-stream/, 'the hint says how to let speakerd tell');
  }
  const riff = thrown(() => decoderFor('audio/wav').write(Buffer.from('RIFX0000WAVEfmt ')));
  t.match(riff, { code: 'E_UNSUPPORTED_ENCODING', message: /RIFX/ }, 'declared WAV of no known format: the WAV reader says what is wrong');
  const decoder = decoderFor('audio/ogg;codecs=opus,vorbis');
  t.equal(thrown(() => decoder.write(body('Ogg Vorbis'))), undefined, 'codecs= may list both');
  t.equal(decoder.codec, 'vorbis');
  const failed = decoderFor('audio/flac');
  const first = thrown(() => failed.write(Buffer.from('OggS'.padEnd(64, '\0'))));
  t.equal(thrown(() => failed.write(Buffer.from('more'))), first, 'the same error again on a later write');
  t.equal(thrown(() => failed.end()), first, 'and at the end');
});
