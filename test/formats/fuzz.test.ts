// Seeded mutation fuzzing: valid headers with flipped bytes, cut or extended
// bodies and spliced sizes, fed in random splits. Whatever the bytes, the
// decoders answer with audio or with a 400/415 SpeakerdError: nothing else
// is ever thrown, and the way a body is split never changes the answer.
import t from 'tap';
import { SpeakerdError } from '../../src/errors';
import { frameBytes } from '../../src/formats/audio-format';
import { decoderFor } from '../../src/formats/detect';
import { HEADER_LIMIT, WavDecoder } from '../../src/formats/wav';
import { Random, audioBytes, chunk, decode, pcm16, randomSplit, wav, type Split } from './fixtures/bodies';

function ds64(dataSize: number): Buffer {
  const body = Buffer.alloc(28);
  body.writeBigUInt64LE(BigInt(dataSize), 8);
  return chunk('ds64', body);
}

const SEEDS: Buffer[] = [
  wav({ fmt: pcm16(), data: audioBytes(4 * 40, 1) }),
  wav({
    fmt: { formatTag: 0xfffe, channels: 1, rate: 96000, bitsPerSample: 32, validBits: 24, subformatTag: 1 },
    data: audioBytes(4 * 30, 2),
    beforeFmt: [chunk('LIST', audioBytes(26, 3))],
    betweenFmtAndData: [chunk('fact', Buffer.from([30, 0, 0, 0]))],
  }),
  wav({ fmt: { formatTag: 3, channels: 4, rate: 44100, bitsPerSample: 64 }, data: audioBytes(32 * 5, 4), afterData: [chunk('LIST', audioBytes(12, 5))] }),
  wav({ magic: 'RF64', riffSize: 0xffffffff, beforeFmt: [ds64(48)], fmt: pcm16(2, 22050), data: audioBytes(48, 6), dataSize: 0xffffffff }),
  wav({ fmt: { formatTag: 1, channels: 1, rate: 8000, bitsPerSample: 8 }, data: audioBytes(51, 7), dataSize: 0xffffffff, riffSize: 0 }),
  wav({ fmt: pcm16(1, 22050), data: audioBytes(100, 8), dataSize: 0x7ffff000, riffSize: 0x7ffff024 }),
  wav({ fmt: { formatTag: 1, channels: 6, rate: 48000, bitsPerSample: 24 }, data: audioBytes(18 * 4, 9), beforeFmt: [chunk('odd!', Buffer.from([1, 2, 3]))] }),
];

/** The offsets of the RIFF size and of every chunk's size field, found by walking the valid body. */
function sizeFieldOffsets(body: Buffer): number[] {
  const offsets = [4];
  for (let at = 12; at + 8 <= body.length; ) {
    offsets.push(at + 4);
    const size = body.readUInt32LE(at + 4);
    if (body.toString('latin1', at, at + 4) === 'data') break;
    at += 8 + size + (size & 1);
  }
  return offsets;
}

function fmtOffset(body: Buffer): number {
  return body.indexOf('fmt ') + 8;
}

const INTERESTING_32 = [0, 1, 2, 3, 14, 15, 16, 17, 18, 39, 40, 4095, 4096, 4097, HEADER_LIMIT, 0x7ffff000, 0x7fffffff, 0xfffffffe, 0xffffffff];
const INTERESTING_16 = [0, 1, 2, 3, 6, 7, 8, 9, 16, 24, 32, 64, 0x55, 0xfffe, 0xffff];

function mutate(seed: Buffer, random: Random): Buffer {
  let body = Buffer.from(seed);
  const headerEnd = body.indexOf('data') + 8;
  for (let n = 1 + random.below(4); n > 0; n--) {
    switch (random.below(9)) {
      case 0: {
        // Flip a bit, mostly in the header.
        const at = random.below(random.below(4) === 0 ? body.length : headerEnd) % Math.max(body.length, 1);
        if (body.length > 0) body[at]! ^= 1 << random.below(8);
        break;
      }
      case 1:
        if (body.length > 0) body[random.below(body.length)] = random.below(256);
        break;
      case 2:
        body = body.subarray(0, random.below(body.length + 1));
        break;
      case 3:
        body = Buffer.concat([body, random.bytes(1 + random.below(64))]);
        break;
      case 4:
      case 5: {
        // Splice a size field with a boundary value or a near miss.
        const at = random.pick(sizeFieldOffsets(seed));
        if (at + 4 > body.length) break;
        const original = body.readUInt32LE(at);
        const value = random.below(2) === 0 ? random.pick(INTERESTING_32) : original + random.pick([-2, -1, 1, 2, 4, -4]);
        body.writeUInt32LE(value >>> 0, at);
        break;
      }
      case 6: {
        // Set formatTag, channels, blockAlign or bitsPerSample to a boundary value.
        const at = fmtOffset(seed) + random.pick([0, 2, 12, 14]);
        if (at + 2 <= body.length) body.writeUInt16LE(random.pick(INTERESTING_16), at);
        break;
      }
      case 7: {
        const at = random.below(body.length + 1);
        body = Buffer.concat([body.subarray(0, at), random.bytes(1 + random.below(8)), body.subarray(at)]);
        break;
      }
      case 8: {
        const at = random.below(body.length + 1);
        body = Buffer.concat([body.subarray(0, at), body.subarray(at + 1 + random.below(8))]);
        break;
      }
    }
  }
  return body;
}

type Outcome = { error: string; message: string } | { audio: Buffer; truncated: boolean; format: string };

/** Decodes `body` in `split`; returns the outcome, or describes a broken rule. */
function outcomeOf(body: Buffer, split: Split): Outcome | string {
  const decoder = new WavDecoder();
  try {
    const decoded = decode(decoder, body, split);
    const format = decoder.format;
    if (decoded.audio.length > 0) {
      if (!format) return 'audio came out with no format';
      if (decoded.pieces.some((n) => n === 0 || n % frameBytes(format) !== 0)) return `a buffer that is not whole frames: ${decoded.pieces.join(',')}`;
      if (body.indexOf(decoded.audio) === -1) return 'audio that is not a run of the body';
    }
    return { audio: decoded.audio, truncated: decoded.truncated, format: JSON.stringify(format) };
  } catch (error) {
    if (!(error instanceof SpeakerdError)) return `threw ${String(error)}`;
    if (error.statusCode !== 400 || !['E_INVALID_WAV', 'E_UNSUPPORTED_ENCODING'].includes(error.code)) {
      return `threw ${error.code} ${error.statusCode}`;
    }
    return { error: error.code, message: error.message };
  }
}

function same(a: Outcome, b: Outcome): boolean {
  if ('error' in a || 'error' in b) return 'error' in a && 'error' in b && a.error === b.error && a.message === b.message;
  return a.audio.equals(b.audio) && a.truncated === b.truncated && a.format === b.format;
}

t.test('12,000 mutated WAV headers: audio or a 400 SpeakerdError, and the same answer whole or split', async (t) => {
  const random = new Random(20240611);
  const problems: string[] = [];
  const tally = new Map<string, number>();
  const started = process.hrtime.bigint();
  const cases = 12_000;
  for (let i = 0; i < cases; i++) {
    const body = mutate(random.pick(SEEDS), random);
    const whole = outcomeOf(body, { name: 'whole', cut: (b) => [b] });
    const split = outcomeOf(body, randomSplit(i + 1));
    if (typeof whole === 'string' || typeof split === 'string') {
      problems.push(`case ${i} (${body.toString('hex', 0, 64)}): ${typeof whole === 'string' ? whole : split}`);
      continue;
    }
    if (!same(whole, split)) problems.push(`case ${i} (${body.toString('hex', 0, 64)}): split changed the answer`);
    const kind = 'error' in whole ? whole.error : whole.truncated ? 'audio, truncated' : 'audio';
    tally.set(kind, (tally.get(kind) ?? 0) + 1);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  t.comment(`${cases} cases in ${seconds.toFixed(2)} s: ${JSON.stringify(Object.fromEntries(tally))}`);
  t.same(problems.slice(0, 10), [], 'no broken rule');
  t.equal(problems.length, 0);
  t.same([...tally.keys()].sort(), ['E_INVALID_WAV', 'E_UNSUPPORTED_ENCODING', 'audio', 'audio, truncated'], 'every kind of answer was reached');
});

const CONTENT_TYPES = [
  'audio/wav',
  'audio/x-wav',
  'audio/L16;rate=16000;channels=1',
  'audio/L24; rate="48000"; channels=2',
  'audio/pcm;rate=44100;channels=2;format=s16le',
  'audio/pcm;rate=8000;channels=8;format=f32le',
];
const CONTENT_TYPE_CHARS = ';="\\ ,/=0123456789abcdefLSmrtx\t-.';

t.test('5,000 mutated Content-Types: a decoder, or a 400 or 415 SpeakerdError', async (t) => {
  const random = new Random(7);
  const problems: string[] = [];
  const tally = new Map<string, number>();
  for (let i = 0; i < 5000; i++) {
    let text = random.pick(CONTENT_TYPES);
    for (let n = 1 + random.below(3); n > 0; n--) {
      const at = random.below(text.length + 1);
      const c = CONTENT_TYPE_CHARS[random.below(CONTENT_TYPE_CHARS.length)]!;
      const op = random.below(3);
      text = op === 0 ? text.slice(0, at) + c + text.slice(at) : op === 1 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + c + text.slice(at + 1);
    }
    try {
      const decoder = decoderFor(text);
      if (decoder.format && frameBytes(decoder.format) <= 0) problems.push(`${text}: a frame of no bytes`);
      tally.set('decoder', (tally.get('decoder') ?? 0) + 1);
    } catch (error) {
      const ok =
        error instanceof SpeakerdError &&
        ((error.statusCode === 415 && error.code === 'E_UNSUPPORTED_MEDIA_TYPE') || (error.statusCode === 400 && error.code === 'E_INVALID_PARAMETER'));
      if (!ok) problems.push(`${JSON.stringify(text)}: threw ${String(error)}`);
      else tally.set(error.code, (tally.get(error.code) ?? 0) + 1);
    }
  }
  t.same(problems.slice(0, 10), []);
  t.same([...tally.keys()].sort(), ['E_INVALID_PARAMETER', 'E_UNSUPPORTED_MEDIA_TYPE', 'decoder'], 'every kind of answer was reached');
});
