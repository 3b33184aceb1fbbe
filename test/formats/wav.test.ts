import t from 'tap';
import { frameBytes, type AudioFormat, type InputSampleFormat } from '../../src/formats/audio-format';
import { HEADER_LIMIT, WavDecoder } from '../../src/formats/wav';
import {
  BYTEWISE,
  SPLITS,
  WHOLE,
  audioBytes,
  chunk,
  decode,
  fmtBody,
  pcm16,
  randomSplit,
  riffHeader,
  wav,
  type FmtFields,
} from './fixtures/bodies';

interface Encoding {
  name: string;
  fields(channels: number, rate: number): FmtFields;
  sampleFormat: InputSampleFormat;
}

const plain = (formatTag: number, bitsPerSample: number) => (channels: number, rate: number) => ({ formatTag, channels, rate, bitsPerSample });
const extensible = (subformatTag: number, bitsPerSample: number, validBits: number) => (channels: number, rate: number) => ({
  formatTag: 0xfffe,
  channels,
  rate,
  bitsPerSample,
  validBits,
  subformatTag,
  channelMask: (1 << channels) - 1,
});

const ENCODINGS: Encoding[] = [
  { name: 'PCM 8-bit unsigned', fields: plain(1, 8), sampleFormat: 'U8' },
  { name: 'PCM 16-bit', fields: plain(1, 16), sampleFormat: 'S16_LE' },
  { name: 'PCM 24-bit packed', fields: plain(1, 24), sampleFormat: 'S24_3LE' },
  { name: 'PCM 32-bit', fields: plain(1, 32), sampleFormat: 'S32_LE' },
  { name: 'IEEE float 32', fields: plain(3, 32), sampleFormat: 'FLOAT_LE' },
  { name: 'IEEE float 64', fields: plain(3, 64), sampleFormat: 'FLOAT64_LE' },
  { name: 'extensible PCM 8-bit', fields: extensible(1, 8, 8), sampleFormat: 'U8' },
  { name: 'extensible PCM 16-bit', fields: extensible(1, 16, 16), sampleFormat: 'S16_LE' },
  { name: 'extensible PCM 24-bit', fields: extensible(1, 24, 24), sampleFormat: 'S24_3LE' },
  { name: 'extensible PCM 20 valid bits in 24', fields: extensible(1, 24, 20), sampleFormat: 'S24_3LE' },
  { name: 'extensible PCM 32-bit', fields: extensible(1, 32, 32), sampleFormat: 'S32_LE' },
  { name: 'extensible PCM 24 valid bits in 32', fields: extensible(1, 32, 24), sampleFormat: 'S32_LE' },
  { name: 'extensible PCM with validBitsPerSample 0', fields: extensible(1, 16, 0), sampleFormat: 'S16_LE' },
  { name: 'extensible IEEE float 32', fields: extensible(3, 32, 32), sampleFormat: 'FLOAT_LE' },
  { name: 'extensible IEEE float 64', fields: extensible(3, 64, 64), sampleFormat: 'FLOAT64_LE' },
];

const RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000];
const CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8];
// An odd frame count, so no body length is a round number.
const FRAMES = 61;

function layouts(): { channels: number; rate: number }[] {
  return [...CHANNELS.map((channels) => ({ channels, rate: 48000 })), ...RATES.map((rate) => ({ channels: 2, rate }))];
}

for (const encoding of ENCODINGS) {
  t.test(`${encoding.name}: mono to 8 channels, 8 to 192 kHz, in every split, come out as the exact data in whole frames`, async (t) => {
    let seed = 1;
    for (const { channels, rate } of layouts()) {
      const format: AudioFormat = { sampleFormat: encoding.sampleFormat, rate, channels };
      const data = audioBytes(FRAMES * frameBytes(format), seed++);
      const body = wav({ fmt: encoding.fields(channels, rate), data });
      for (const split of SPLITS) {
        const label = `${channels} ch, ${rate} Hz, ${split.name}`;
        const decoder = new WavDecoder();
        const decoded = decode(decoder, body, split);
        t.same(decoder.format, format, `${label}: format`);
        t.ok(decoded.audio.equals(data), `${label}: the audio is the data, byte for byte`);
        t.same(
          decoded.pieces.filter((n) => n === 0 || n % frameBytes(format) !== 0),
          [],
          `${label}: every buffer is a non-empty run of whole frames`,
        );
        t.equal(decoded.truncated, false, `${label}: not truncated`);
      }
    }
  });
}

t.test('each frame comes out as soon as its last byte arrives, not at the end of the body', async (t) => {
  const fmt: FmtFields = { formatTag: 1, channels: 3, rate: 16000, bitsPerSample: 24 };
  const data = audioBytes(9 * 20);
  const body = wav({ fmt, data });
  const headerLength = body.length - data.length;
  const decoder = new WavDecoder();
  t.same(decoder.write(body.subarray(0, headerLength)), [], 'the header alone yields no audio');
  const delivered: number[] = [];
  let total = 0;
  for (let i = 0; i < data.length; i++) {
    for (const frames of decoder.write(body.subarray(headerLength + i, headerLength + i + 1))) total += frames.length;
    delivered.push(total);
  }
  t.same(
    delivered,
    data.map((_, i) => Math.floor((i + 1) / 9) * 9),
    'after k audio bytes, exactly the whole frames among them have come out',
  );
  t.same(decoder.end(), { truncated: false });
});

t.test('the format is undefined until the data chunk header is complete, then known', async (t) => {
  const body = wav({ fmt: pcm16(2, 44100), data: audioBytes(8) });
  const decoder = new WavDecoder();
  const headerLength = body.length - 8;
  for (let i = 0; i < headerLength - 1; i++) decoder.write(body.subarray(i, i + 1));
  t.equal(decoder.format, undefined, 'one byte before the end of the header');
  decoder.write(body.subarray(headerLength - 1, headerLength));
  t.same(decoder.format, { sampleFormat: 'S16_LE', rate: 44100, channels: 2 });
});

t.test('the frames that complete a straddling frame and the whole frames of a chunk keep their order', async (t) => {
  const data = audioBytes(4 * 10);
  const body = wav({ fmt: pcm16(), data });
  const header = body.length - data.length;
  const decoder = new WavDecoder();
  t.same(decoder.write(body.subarray(0, header + 3)), [], 'three bytes of a four-byte frame: nothing yet');
  const frames = decoder.write(body.subarray(header + 3, header + 13));
  t.same(
    frames.map((b) => [...b]),
    [[...data.subarray(0, 4)], [...data.subarray(4, 12)]],
    'the completed frame, then the two whole frames that follow it',
  );
  t.same(decoder.write(body.subarray(header + 13)).map((b) => b.length), [4, 24], 'the rest: one completed frame, then six');
  t.same(decoder.end(), { truncated: false });
});

t.test('chunks that carry no audio are skipped wherever they are, including odd-sized ones and their pad bytes', async (t) => {
  const list = chunk('LIST', Buffer.from('INFOISFT\x0e\x00\x00\x00Lavf60.16.100\x00', 'latin1'));
  const odd = chunk('abcd', Buffer.from([1, 2, 3]));
  const fact = chunk('fact', Buffer.from([0x10, 0, 0, 0]));
  const cases: [string, Partial<Parameters<typeof wav>[0]>][] = [
    ['LIST before fmt', { beforeFmt: [list] }],
    ['fact between fmt and data', { betweenFmtAndData: [fact] }],
    ['LIST after data', { afterData: [list] }],
    ['an odd-sized chunk before fmt', { beforeFmt: [odd] }],
    ['an odd-sized chunk between fmt and data', { betweenFmtAndData: [odd, fact] }],
    ['an odd-sized chunk after data', { afterData: [odd, list] }],
    ['a zero-sized chunk', { beforeFmt: [chunk('JUNK', Buffer.alloc(0))] }],
    ['all of them at once', { beforeFmt: [odd, list, chunk('JUNK', Buffer.alloc(0))], betweenFmtAndData: [fact, odd], afterData: [list, odd] }],
  ];
  for (const [name, layout] of cases) {
    const data = audioBytes(4 * 33);
    const body = wav({ fmt: pcm16(), data, ...layout });
    for (const split of SPLITS) {
      const decoded = decode(new WavDecoder(), body, split);
      t.ok(decoded.audio.equals(data), `${name}, ${split.name}: exactly the data`);
      t.equal(decoded.truncated, false, `${name}, ${split.name}: not truncated`);
    }
  }
});

t.test('an odd-sized data chunk ends at its size; its pad byte and the chunks after it are not audio', async (t) => {
  const data = audioBytes(7);
  const body = wav({ fmt: { formatTag: 1, channels: 1, rate: 8000, bitsPerSample: 8 }, data, afterData: [chunk('LIST', audioBytes(9, 2))] });
  t.equal(body.length, 44 + 7 + 1 + 8 + 9 + 1, 'the data and the LIST body are both padded');
  for (const split of SPLITS) {
    const decoded = decode(new WavDecoder(), body, split);
    t.ok(decoded.audio.equals(data), `${split.name}: the 7 data bytes`);
    t.equal(decoded.truncated, false, split.name);
  }
});

t.test('a fmt chunk of 18 bytes (cbSize 0) and one with an odd size and a pad byte are read', async (t) => {
  const data = audioBytes(4 * 5);
  const fmt18 = chunk('fmt ', Buffer.concat([fmtBody(pcm16()), Buffer.alloc(2)]));
  const fmt17 = chunk('fmt ', Buffer.concat([fmtBody(pcm16()), Buffer.alloc(1)]));
  for (const [name, fmtChunk] of [
    ['18 bytes', fmt18],
    ['17 bytes and a pad byte', fmt17],
  ] as const) {
    const chunks = Buffer.concat([fmtChunk, chunk('data', data)]);
    const body = Buffer.concat([riffHeader('RIFF', chunks.length + 4), chunks]);
    const decoder = new WavDecoder();
    const decoded = decode(decoder, body, BYTEWISE);
    t.same(decoder.format, { sampleFormat: 'S16_LE', rate: 48000, channels: 2 }, name);
    t.ok(decoded.audio.equals(data), `${name}: exactly the data`);
  }
});

t.test('data sizes 0, 0xFFFFFFFF and 0x7ffff000 mean "until the end of the body", with any RIFF size', async (t) => {
  for (const dataSize of [0, 0xffffffff, 0x7ffff000]) {
    for (const riffSize of [0, 0xffffffff, 0x7ffff024]) {
      const data = audioBytes(4 * 1000 + 4, dataSize + riffSize);
      const body = wav({ fmt: pcm16(), data, dataSize, riffSize });
      for (const split of [WHOLE, randomSplit(7)]) {
        const label = `data size 0x${dataSize.toString(16)}, RIFF size 0x${riffSize.toString(16)}, ${split.name}`;
        const decoded = decode(new WavDecoder(), body, split);
        t.ok(decoded.audio.equals(data), `${label}: all of the body after the header is audio`);
        t.equal(decoded.truncated, false, `${label}: a streamed body ending is not truncation`);
      }
    }
  }
});

t.test('the header espeak-ng --stdout writes is read, and its body ending early is not truncation', async (t) => {
  // espeak-ng cannot seek back on a pipe, so its sizes stay at these placeholders.
  const header = Buffer.from('52494646 24f0ff7f 57415645 666d7420 10000000 0100 0100 22560000 44ac0000 0200 1000 64617461 00f0ff7f'.replace(/ /g, ''), 'hex');
  t.equal(header.length, 44);
  const data = audioBytes(2 * 22050);
  const decoder = new WavDecoder();
  const decoded = decode(decoder, Buffer.concat([header, data]), randomSplit(3));
  t.same(decoder.format, { sampleFormat: 'S16_LE', rate: 22050, channels: 1 });
  t.ok(decoded.audio.equals(data));
  t.equal(decoded.truncated, false);
});

t.test('truncated bodies deliver every whole frame and report truncated', async (t) => {
  const fmt = pcm16(); // 4-byte frames
  const data = audioBytes(400);
  const cases: { name: string; body: Buffer; audio: Buffer; truncated: boolean }[] = [
    {
      name: 'a streamed body ending inside a frame',
      // 398: an odd length would get a pad byte from the fixture.
      body: wav({ fmt, data: data.subarray(0, 398), dataSize: 0xffffffff }),
      audio: data.subarray(0, 396),
      truncated: true,
    },
    {
      name: 'a body ending on a frame boundary before the declared size',
      body: wav({ fmt, data: data.subarray(0, 300), dataSize: 400 }),
      audio: data.subarray(0, 300),
      truncated: true,
    },
    {
      name: 'a body ending inside a frame before the declared size',
      body: wav({ fmt, data: data.subarray(0, 302), dataSize: 400 }),
      audio: data.subarray(0, 300),
      truncated: true,
    },
    {
      name: 'a declared size that is not a whole number of frames',
      body: wav({ fmt, data: data.subarray(0, 398), dataSize: 398 }),
      audio: data.subarray(0, 396),
      truncated: true,
    },
    {
      name: 'a header with the declared size and no audio at all',
      body: wav({ fmt, data: Buffer.alloc(0), dataSize: 400 }),
      audio: Buffer.alloc(0),
      truncated: true,
    },
    {
      name: 'a streamed header with no audio at all',
      body: wav({ fmt, data: Buffer.alloc(0), dataSize: 0 }),
      audio: Buffer.alloc(0),
      truncated: false,
    },
    {
      name: 'exactly the declared size, then bytes that are not a chunk',
      body: Buffer.concat([wav({ fmt, data }), audioBytes(13, 9)]),
      audio: data,
      truncated: false,
    },
  ];
  for (const c of cases) {
    for (const split of SPLITS) {
      const decoded = decode(new WavDecoder(), c.body, split);
      t.ok(decoded.audio.equals(c.audio), `${c.name}, ${split.name}: ${c.audio.length} bytes of audio`);
      t.equal(decoded.truncated, c.truncated, `${c.name}, ${split.name}: truncated ${c.truncated}`);
    }
  }
});

function ds64(dataSize: bigint, tableEntries = 0): Buffer {
  const body = Buffer.alloc(28 + tableEntries * 12);
  body.writeBigUInt64LE(0xffffffffn, 0);
  body.writeBigUInt64LE(dataSize, 8);
  body.writeUInt32LE(tableEntries, 24);
  return chunk('ds64', body);
}

t.test('RF64 and BW64: the ds64 chunk gives the data size; without it the data runs to the end', async (t) => {
  const data = audioBytes(4 * 250);
  const trailer = [chunk('LIST', audioBytes(30, 5))];
  const cases: { name: string; body: Buffer; audio: Buffer; truncated: boolean }[] = [
    {
      name: 'RF64 with ds64, data size 0xFFFFFFFF, a chunk after the data',
      body: wav({ magic: 'RF64', riffSize: 0xffffffff, beforeFmt: [ds64(BigInt(data.length))], fmt: pcm16(), data, dataSize: 0xffffffff, afterData: trailer }),
      audio: data,
      truncated: false,
    },
    {
      name: 'BW64 with a ds64 table',
      body: wav({ magic: 'BW64', riffSize: 0xffffffff, beforeFmt: [ds64(BigInt(data.length), 2)], fmt: pcm16(), data, dataSize: 0xffffffff, afterData: trailer }),
      audio: data,
      truncated: false,
    },
    {
      name: 'RF64 whose body ends before the ds64 data size',
      body: wav({ magic: 'RF64', riffSize: 0xffffffff, beforeFmt: [ds64(BigInt(data.length) + 400n)], fmt: pcm16(), data, dataSize: 0xffffffff }),
      audio: data,
      truncated: true,
    },
    {
      name: 'RF64 with a ds64 data size of 0 (streamed)',
      body: wav({ magic: 'RF64', riffSize: 0xffffffff, beforeFmt: [ds64(0n)], fmt: pcm16(), data, dataSize: 0xffffffff }),
      audio: data,
      truncated: false,
    },
    {
      name: 'RF64 with no ds64 chunk',
      body: wav({ magic: 'RF64', riffSize: 0xffffffff, fmt: pcm16(), data, dataSize: 0xffffffff }),
      audio: data,
      truncated: false,
    },
    {
      name: 'a ds64 chunk in a plain RIFF file is just skipped',
      body: wav({ beforeFmt: [ds64(8n)], fmt: pcm16(), data }),
      audio: data,
      truncated: false,
    },
  ];
  for (const c of cases) {
    for (const split of SPLITS) {
      const decoded = decode(new WavDecoder(), c.body, split);
      t.ok(decoded.audio.equals(c.audio), `${c.name}, ${split.name}: ${c.audio.length} bytes of audio`);
      t.equal(decoded.truncated, c.truncated, `${c.name}, ${split.name}: truncated ${c.truncated}`);
    }
  }
});

t.test(`metadata up to the header limit of ${HEADER_LIMIT} bytes before the audio is accepted`, async (t) => {
  // RIFF header (12) + JUNK header (8) + JUNK body + fmt chunk (24) + data header (8) = HEADER_LIMIT.
  const junk = chunk('JUNK', Buffer.alloc(HEADER_LIMIT - 12 - 8 - 24 - 8));
  const data = audioBytes(4 * 8);
  const decoded = decode(new WavDecoder(), wav({ beforeFmt: [junk], fmt: pcm16(), data }), randomSplit(4));
  t.ok(decoded.audio.equals(data));
  t.equal(decoded.truncated, false);
});
