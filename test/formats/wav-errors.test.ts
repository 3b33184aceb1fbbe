import t from 'tap';
import { SpeakerdError } from '../../src/errors';
import { HEADER_LIMIT, WavDecoder } from '../../src/formats/wav';
import {
  BYTEWISE,
  Random,
  SPLITS,
  audioBytes,
  chunk,
  decode,
  fmtBody,
  pcm16,
  riffHeader,
  thrown,
  wav,
  type FmtFields,
  type Split,
} from './fixtures/bodies';

const data = audioBytes(64);
const good = wav({ fmt: pcm16(), data });

/** A RIFF/WAVE header followed by these chunks, with a correct RIFF size. */
function riff(...chunks: Buffer[]): Buffer {
  const body = Buffer.concat(chunks);
  return Buffer.concat([riffHeader('RIFF', body.length + 4), body]);
}

/** A whole file with these fmt fields. */
function withFmt(fields: FmtFields): Buffer {
  return wav({ fmt: fields, data });
}

function decodeError(body: Buffer, split: Split): unknown {
  return thrown(() => decode(new WavDecoder(), body, split));
}

type Case = [name: string, body: Buffer, code: string, message: string];

const INVALID = 'E_INVALID_WAV';
const UNSUPPORTED = 'E_UNSUPPORTED_ENCODING';

const ambisonicGuidTail = Buffer.from('00002107d3118644c8c1ca000000', 'hex');
const manySmallChunks = Array.from({ length: 300 }, () => chunk('JUNK', Buffer.alloc(4000)));

const CORPUS: Case[] = [
  // Bodies that end before the header does.
  ['an empty body', Buffer.alloc(0), INVALID, 'the body is empty: a WAV file was expected'],
  ['only "RIFF"', good.subarray(0, 4), INVALID, 'the body ended inside the WAV header (after 4 bytes)'],
  ['the RIFF header alone', good.subarray(0, 12), INVALID, 'the body ended inside the WAV header (after 12 bytes)'],
  ['a body ending inside the fmt chunk', good.subarray(0, 27), INVALID, 'the body ended inside the WAV header (after 27 bytes)'],
  ['a body ending after the fmt chunk', good.subarray(0, 36), INVALID, 'the body ended inside the WAV header (after 36 bytes)'],
  ['a body ending inside the data chunk header', good.subarray(0, 43), INVALID, 'the body ended inside the WAV header (after 43 bytes)'],
  [
    'a body ending inside a LIST chunk before the data',
    riff(chunk('fmt ', fmtBody(pcm16())), chunk('LIST', Buffer.alloc(100))).subarray(0, 90),
    INVALID,
    'the body ended inside the WAV header (after 90 bytes)',
  ],

  // Not RIFF/WAVE at all.
  ['JSON', Buffer.from('{"text": "hello"}'), INVALID, 'not a RIFF file: it starts with "{\\"te" instead of "RIFF"'],
  ['binary zeros and ones', Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), INVALID, 'not a RIFF file: it starts with 00 01 02 03 instead of "RIFF"'],
  ['a lower-case "riff"', Buffer.concat([Buffer.from('riff'), good.subarray(4)]), INVALID, 'not a RIFF file: it starts with "riff" instead of "RIFF"'],
  ['MP3 with an ID3 tag', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x23TSSE', 'latin1'), INVALID, 'not a RIFF file: it starts with 49 44 33 04, which looks like MP3 (an ID3 tag)'],
  ['a bare MP3 frame', Buffer.from('fffb9064000000000000000000', 'hex'), INVALID, 'not a RIFF file: it starts with FF FB 90 64, which looks like MPEG audio (MP3)'],
  ['Ogg', Buffer.from('OggS\x00\x02\x00\x00\x00\x00\x00\x00', 'latin1'), INVALID, 'not a RIFF file: it starts with "OggS", which looks like Ogg'],
  ['FLAC', Buffer.from('fLaC\x00\x00\x00\x22\x10\x00\x10\x00', 'latin1'), INVALID, 'not a RIFF file: it starts with "fLaC", which looks like FLAC'],
  ['AIFF', Buffer.from('FORM\x00\x00\x10\x00AIFFCOMM', 'latin1'), INVALID, 'not a RIFF file: it starts with "FORM", which looks like AIFF'],
  ['big-endian RIFX', Buffer.concat([Buffer.from('RIFX'), good.subarray(4)]), UNSUPPORTED, 'big-endian RIFX WAV is not supported'],
  ['a RIFF AVI file', riffHeader('RIFF', 1000, 'AVI '), INVALID, 'a RIFF file of type "AVI ", not WAVE'],
  ['a RIFF file of binary type', riffHeader('RIFF', 1000, '\x00\x01\x02\x03'), INVALID, 'a RIFF file of type 00 01 02 03, not WAVE'],

  // Chunk structure.
  ['data before fmt', riff(chunk('data', data), chunk('fmt ', fmtBody(pcm16()))), INVALID, 'fmt chunk missing'],
  ['no fmt at all', riff(chunk('LIST', Buffer.alloc(4)), chunk('data', data)), INVALID, 'fmt chunk missing'],
  ['a fmt chunk of 14 bytes', riff(chunk('fmt ', fmtBody(pcm16()).subarray(0, 14)), chunk('data', data)), INVALID, 'fmt chunk too short (14 bytes)'],
  ['an empty fmt chunk', riff(chunk('fmt ', Buffer.alloc(0)), chunk('data', data)), INVALID, 'fmt chunk too short (0 bytes)'],
  ['a fmt chunk of 70000 bytes', riff(chunk('fmt ', Buffer.alloc(0), 70000)), INVALID, 'fmt chunk of 70000 bytes is larger than the limit of 4096'],
  ['a fmt chunk of 0xFFFFFFFF bytes', riff(chunk('fmt ', Buffer.alloc(0), 0xffffffff)), INVALID, 'fmt chunk of 4294967295 bytes is larger than the limit of 4096'],
  ['two fmt chunks', riff(chunk('fmt ', fmtBody(pcm16())), chunk('fmt ', fmtBody(pcm16())), chunk('data', data)), INVALID, 'a second fmt chunk at byte 36'],
  [
    'a fmt size 4 bytes too large, swallowing the data chunk id',
    riff(chunk('fmt ', fmtBody(pcm16()), 20).subarray(0, 24), chunk('data', data)),
    INVALID,
    'bytes 40 00 00 00 at byte 40 are not a chunk id; the chunk before them may have a wrong size or lack its pad byte',
  ],
  [
    'an odd-sized chunk without its pad byte',
    riff(chunk('LIST', Buffer.from('abc')).subarray(0, 11), chunk('fmt ', fmtBody(pcm16())), chunk('data', data)),
    INVALID,
    'bytes 6D 74 20 10 at byte 24 are not a chunk id; the chunk before them may have a wrong size or lack its pad byte',
  ],
  [
    'zeros after the RIFF header',
    Buffer.concat([riffHeader('RIFF', 100), Buffer.alloc(40)]),
    INVALID,
    'bytes 00 00 00 00 at byte 12 are not a chunk id; the chunk before them may have a wrong size or lack its pad byte',
  ],
  [
    'a LIST chunk of 2,000,000 bytes before the audio',
    riff(chunk('LIST', Buffer.alloc(0), 2_000_000)),
    INVALID,
    `the "LIST" chunk of 2000000 bytes at byte 12 would make the header longer than the limit of ${HEADER_LIMIT} bytes before the audio`,
  ],
  [
    'a JUNK chunk of 0xFFFFFFFF bytes between fmt and data',
    riff(chunk('fmt ', fmtBody(pcm16())), chunk('JUNK', Buffer.alloc(0), 0xffffffff)),
    INVALID,
    `the "JUNK" chunk of 4294967295 bytes at byte 36 would make the header longer than the limit of ${HEADER_LIMIT} bytes before the audio`,
  ],
  [
    'metadata two bytes past the header limit',
    // RIFF header (12) + fmt chunk (24) + JUNK header (8) + JUNK body + data header (8) = HEADER_LIMIT + 2.
    riff(chunk('fmt ', fmtBody(pcm16())), chunk('JUNK', Buffer.alloc(0), HEADER_LIMIT - 12 - 24 - 8 - 8 + 2)),
    INVALID,
    `the "JUNK" chunk of ${HEADER_LIMIT - 50} bytes at byte 36 would make the header longer than the limit of ${HEADER_LIMIT} bytes before the audio`,
  ],
  [
    'many small chunks adding up past the header limit',
    riff(chunk('fmt ', fmtBody(pcm16())), ...manySmallChunks, chunk('data', data)),
    INVALID,
    // The 262nd JUNK chunk starts at 36 + 261 × 4008 and would end past the limit.
    `the "JUNK" chunk of 4000 bytes at byte 1046124 would make the header longer than the limit of ${HEADER_LIMIT} bytes before the audio`,
  ],
  [
    'an RF64 ds64 chunk of 20 bytes',
    Buffer.concat([riffHeader('RF64', 0xffffffff), chunk('ds64', Buffer.alloc(20))]),
    INVALID,
    'ds64 chunk too short (20 bytes; it needs 28)',
  ],

  // WAVE_FORMAT_EXTENSIBLE.
  [
    'an extensible fmt chunk of 18 bytes',
    riff(chunk('fmt ', Buffer.concat([fmtBody({ ...pcm16(), formatTag: 0xfffe }).subarray(0, 16), Buffer.from([0, 0])])), chunk('data', data)),
    INVALID,
    'WAVE_FORMAT_EXTENSIBLE fmt chunk too short (18 bytes; it needs 40)',
  ],
  [
    'an extensible Ambisonic B-format subformat',
    withFmt({ formatTag: 0xfffe, channels: 4, rate: 48000, bitsPerSample: 16, guidTail: ambisonicGuidTail }),
    UNSUPPORTED,
    'unsupported WAVE_FORMAT_EXTENSIBLE subformat {00000001-0721-11D3-8644-C8C1CA000000}',
  ],
  [
    'an extensible MP3 subformat',
    withFmt({ formatTag: 0xfffe, channels: 2, rate: 44100, bitsPerSample: 16, subformatTag: 0x55 }),
    UNSUPPORTED,
    'unsupported WAVE encoding 0x0055 (MP3) in WAVE_FORMAT_EXTENSIBLE',
  ],
  [
    'extensible with more valid bits than its container',
    withFmt({ formatTag: 0xfffe, channels: 2, rate: 48000, bitsPerSample: 24, validBits: 32 }),
    INVALID,
    'WAVE_FORMAT_EXTENSIBLE validBitsPerSample is 32, more than its 24-bit container',
  ],
  ['extensible PCM 12-bit', withFmt({ formatTag: 0xfffe, channels: 1, rate: 8000, bitsPerSample: 12 }), UNSUPPORTED, 'unsupported PCM bit depth 12'],

  // Encodings speakerd does not play.
  ['MP3 in WAV', withFmt({ formatTag: 0x55, channels: 2, rate: 44100, bitsPerSample: 0, blockAlign: 1 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0055 (MP3)'],
  ['MS ADPCM', withFmt({ formatTag: 0x02, channels: 1, rate: 8000, bitsPerSample: 4, blockAlign: 256 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0002 (ADPCM)'],
  ['A-law', withFmt({ formatTag: 0x06, channels: 1, rate: 8000, bitsPerSample: 8 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0006 (A-law)'],
  ['µ-law', withFmt({ formatTag: 0x07, channels: 1, rate: 8000, bitsPerSample: 8 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0007 (µ-law)'],
  ['IMA ADPCM', withFmt({ formatTag: 0x11, channels: 1, rate: 8000, bitsPerSample: 4, blockAlign: 256 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0011 (IMA ADPCM)'],
  ['GSM 6.10', withFmt({ formatTag: 0x31, channels: 1, rate: 8000, bitsPerSample: 0, blockAlign: 65 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0031 (GSM 6.10)'],
  ['MPEG', withFmt({ formatTag: 0x50, channels: 2, rate: 44100, bitsPerSample: 0, blockAlign: 1 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0050 (MPEG)'],
  ['AAC', withFmt({ formatTag: 0xff, channels: 2, rate: 44100, bitsPerSample: 16 }), UNSUPPORTED, 'unsupported WAVE encoding 0x00FF (AAC)'],
  ['FLAC', withFmt({ formatTag: 0xf1ac, channels: 2, rate: 44100, bitsPerSample: 16 }), UNSUPPORTED, 'unsupported WAVE encoding 0xF1AC (FLAC)'],
  ['an unnamed encoding', withFmt({ formatTag: 0x1234, channels: 2, rate: 44100, bitsPerSample: 16 }), UNSUPPORTED, 'unsupported WAVE encoding 0x1234'],
  ['format tag 0', withFmt({ formatTag: 0, channels: 2, rate: 44100, bitsPerSample: 16 }), UNSUPPORTED, 'unsupported WAVE encoding 0x0000'],
  ['PCM 12-bit', withFmt({ formatTag: 1, channels: 2, rate: 44100, bitsPerSample: 12 }), UNSUPPORTED, 'unsupported PCM bit depth 12'],
  ['PCM 0-bit', withFmt({ formatTag: 1, channels: 2, rate: 44100, bitsPerSample: 0, blockAlign: 4 }), UNSUPPORTED, 'unsupported PCM bit depth 0'],
  ['PCM 20-bit', withFmt({ formatTag: 1, channels: 2, rate: 44100, bitsPerSample: 20 }), UNSUPPORTED, 'unsupported PCM bit depth 20'],
  ['PCM 64-bit', withFmt({ formatTag: 1, channels: 2, rate: 44100, bitsPerSample: 64 }), UNSUPPORTED, 'unsupported PCM bit depth 64'],
  ['16-bit float', withFmt({ formatTag: 3, channels: 2, rate: 44100, bitsPerSample: 16 }), UNSUPPORTED, 'unsupported IEEE float bit depth 16'],
  ['24-bit float', withFmt({ formatTag: 3, channels: 2, rate: 44100, bitsPerSample: 24 }), UNSUPPORTED, 'unsupported IEEE float bit depth 24'],

  // Layouts.
  ['0 channels', withFmt({ ...pcm16(), channels: 0, blockAlign: 4 }), INVALID, 'fmt chunk has 0 channels'],
  ['9 channels', withFmt(pcm16(9)), UNSUPPORTED, 'fmt chunk has 9 channels; at most 8 are supported'],
  ['65535 channels', withFmt({ ...pcm16(65535), blockAlign: 4 }), UNSUPPORTED, 'fmt chunk has 65535 channels; at most 8 are supported'],
  ['a rate of 0', withFmt(pcm16(2, 0)), INVALID, 'fmt chunk has a sample rate of 0 Hz'],
  ['a rate of 999 Hz', withFmt(pcm16(2, 999)), UNSUPPORTED, 'fmt chunk has a sample rate of 999 Hz, outside 1000 to 384000 Hz'],
  ['a rate of 384001 Hz', withFmt(pcm16(2, 384001)), UNSUPPORTED, 'fmt chunk has a sample rate of 384001 Hz, outside 1000 to 384000 Hz'],
  ['a rate of 0xFFFFFFFF', withFmt(pcm16(2, 0xffffffff)), UNSUPPORTED, 'fmt chunk has a sample rate of 4294967295 Hz, outside 1000 to 384000 Hz'],
  [
    'a blockAlign of 3 for stereo 16-bit',
    withFmt({ ...pcm16(), blockAlign: 3 }),
    INVALID,
    'fmt chunk blockAlign is 3; it must equal channels × bytes per sample = 2 × 2 = 4',
  ],
  [
    'a blockAlign of 0 for 6 channels of 24-bit',
    withFmt({ formatTag: 1, channels: 6, rate: 48000, bitsPerSample: 24, blockAlign: 0 }),
    INVALID,
    'fmt chunk blockAlign is 0; it must equal channels × bytes per sample = 6 × 3 = 18',
  ],
  [
    'plain PCM 24-bit declaring 4-byte containers',
    withFmt({ formatTag: 1, channels: 2, rate: 48000, bitsPerSample: 24, blockAlign: 8 }),
    INVALID,
    'fmt chunk blockAlign is 8; it must equal channels × bytes per sample = 2 × 3 = 6',
  ],
  [
    'extensible 24-in-32 declaring 3-byte blocks',
    withFmt({ formatTag: 0xfffe, channels: 1, rate: 48000, bitsPerSample: 32, validBits: 24, blockAlign: 3 }),
    INVALID,
    'fmt chunk blockAlign is 3; it must equal channels × bytes per sample = 1 × 4 = 4',
  ],
];

t.test('a corpus of malformed and unsupported headers: exact codes, statuses and messages, in every split', async (t) => {
  for (const [name, body, code, message] of CORPUS) {
    for (const split of SPLITS) {
      const error = decodeError(body, split);
      t.type(error, SpeakerdError, `${name}, ${split.name}: a SpeakerdError`);
      const e = error as SpeakerdError;
      t.same({ code: e.code, statusCode: e.statusCode, message: e.message }, { code, statusCode: 400, message }, `${name}, ${split.name}`);
      t.equal(typeof e.hint === 'string' && e.hint.length > 20, true, `${name}, ${split.name}: has a hint`);
    }
  }
});

t.test('random bytes are refused as not RIFF, whatever the seed and split', async (t) => {
  for (let seed = 1; seed <= 50; seed++) {
    const body = new Random(seed).bytes(1 + (seed * 37) % 300);
    for (const split of SPLITS) {
      const e = decodeError(body, split) as SpeakerdError;
      t.type(e, SpeakerdError);
      t.equal(e.code, 'E_INVALID_WAV', `seed ${seed}, ${split.name}`);
      t.equal(e.statusCode, 400);
      t.match(e.message, body.length < 12 ? /^the body ended inside the WAV header \(after \d+ bytes\)$/ : /^not a RIFF file: it starts with /);
    }
  }
});

t.test('the hints say what to do', async (t) => {
  const hintOf = (body: Buffer) => (decodeError(body, BYTEWISE) as SpeakerdError).hint;
  t.equal(
    hintOf(withFmt({ formatTag: 0x55, channels: 2, rate: 44100, bitsPerSample: 0, blockAlign: 1 })),
    'send 16-bit PCM WAV, for example: ffmpeg -i in.mp3 -f wav -acodec pcm_s16le out.wav',
  );
  t.equal(hintOf(withFmt({ formatTag: 0x06, channels: 1, rate: 8000, bitsPerSample: 8 })), 'send 16-bit PCM WAV, for example: ffmpeg -i in.wav -f wav -acodec pcm_s16le out.wav');
  t.equal(
    hintOf(Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x23TSSE', 'latin1')),
    'send a WAV file (for example: ffmpeg -i in.mp3 -f wav -acodec pcm_s16le out.wav), or raw PCM as audio/pcm;rate=R;channels=C;format=s16le',
  );
  t.equal(hintOf(withFmt(pcm16(12))), 'downmix first, for example: ffmpeg -i in.wav -ac 2 -acodec pcm_s16le out.wav');
  t.equal(hintOf(withFmt(pcm16(2, 768000))), 'resample first, for example: ffmpeg -i in.wav -ar 48000 -acodec pcm_s16le out.wav');
  t.equal(hintOf(riff(chunk('data', data))), 'a WAV file needs its fmt chunk before the data chunk: check the program that wrote it');
  t.equal(
    hintOf(riff(chunk('LIST', Buffer.alloc(0), 2_000_000))),
    `put the data chunk within the first ${HEADER_LIMIT} bytes, for example by dropping metadata: ffmpeg -i in.wav -map_metadata -1 -f wav -acodec pcm_s16le out.wav`,
  );
  t.equal(hintOf(good.subarray(0, 30)), 'send the whole file: the audio starts after the fmt chunk and the data chunk header');
  t.equal(
    hintOf(withFmt({ ...pcm16(), blockAlign: 3 })),
    'check the program that wrote the WAV; ffmpeg writes a valid one: ffmpeg -i in.wav -f wav -acodec pcm_s16le out.wav',
  );
});

t.test('a malformed header is refused as soon as it is seen, by write(), not at the end', async (t) => {
  const decoder = new WavDecoder();
  const body = withFmt({ formatTag: 0x55, channels: 2, rate: 44100, bitsPerSample: 0, blockAlign: 1 });
  t.same(decoder.write(body.subarray(0, 35)), [], 'one byte short of the fmt chunk: nothing to say yet');
  t.throws(() => decoder.write(body.subarray(35, 36)), { code: 'E_UNSUPPORTED_ENCODING', message: 'unsupported WAVE encoding 0x0055 (MP3)' });
});

t.test('a decoder that refused its body throws the same error from every later write() and end()', async (t) => {
  const decoder = new WavDecoder();
  const first = thrown(() => decoder.write(Buffer.from('OggS\x00\x02\x00\x00\x00\x00\x00\x00', 'latin1')));
  t.type(first, SpeakerdError);
  t.equal(thrown(() => decoder.write(good)), first, 'a later write, even of a good body');
  t.equal(thrown(() => decoder.end()), first, 'end()');
  const ended = new WavDecoder();
  const early = thrown(() => ended.end());
  t.equal((early as SpeakerdError).message, 'the body is empty: a WAV file was expected');
  t.equal(thrown(() => ended.end()), early, 'end() again');
});
