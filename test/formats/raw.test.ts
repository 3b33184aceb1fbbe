import t from 'tap';
import { SpeakerdError } from '../../src/errors';
import { frameBytes, type AudioFormat } from '../../src/formats/audio-format';
import { parseContentType } from '../../src/formats/content-type';
import { RawDecoder, rawFormatFor, type RawMediaType } from '../../src/formats/raw';
import { SPLITS, audioBytes, decode, thrown } from './fixtures/bodies';

function formatOf(contentType: string): AudioFormat {
  const { essence, parameters } = parseContentType(contentType);
  return rawFormatFor(essence as RawMediaType, parameters);
}

t.test('Content-Type parameters give the format: defaults, case, spacing, quoting, order and unknown parameters', async (t) => {
  const cases: [string, AudioFormat][] = [
    ['audio/L16;rate=16000', { sampleFormat: 'S16_BE', rate: 16000, channels: 1 }],
    ['audio/L16;rate=44100;channels=2', { sampleFormat: 'S16_BE', rate: 44100, channels: 2 }],
    ['audio/L24;rate=96000', { sampleFormat: 'S24_3BE', rate: 96000, channels: 1 }],
    ['audio/L24;rate=48000;channels=6', { sampleFormat: 'S24_3BE', rate: 48000, channels: 6 }],
    ['AUDIO/l16; RATE=8000; Channels=2', { sampleFormat: 'S16_BE', rate: 8000, channels: 2 }],
    ['audio/l16 ;  rate = 22050 ;channels= 2 ', { sampleFormat: 'S16_BE', rate: 22050, channels: 2 }],
    ['audio/L16;rate="48000";channels="2"', { sampleFormat: 'S16_BE', rate: 48000, channels: 2 }],
    ['audio/L16;rate="4\\8000"', { sampleFormat: 'S16_BE', rate: 48000, channels: 1 }],
    ['audio/L16;rate=08000', { sampleFormat: 'S16_BE', rate: 8000, channels: 1 }],
    ['audio/L16;channels=2;rate=1000', { sampleFormat: 'S16_BE', rate: 1000, channels: 2 }],
    ['audio/L16;rate=384000;channels=8', { sampleFormat: 'S16_BE', rate: 384000, channels: 8 }],
    ['audio/L16;rate=16000;channels=1;endianness=big;title="a;b=c";', { sampleFormat: 'S16_BE', rate: 16000, channels: 1 }],
    ['audio/pcm;rate=48000;channels=2;format=s16le', { sampleFormat: 'S16_LE', rate: 48000, channels: 2 }],
    ['audio/pcm;rate=48000;channels=2;format=s24le', { sampleFormat: 'S24_3LE', rate: 48000, channels: 2 }],
    ['audio/pcm;rate=48000;channels=2;format=s32le', { sampleFormat: 'S32_LE', rate: 48000, channels: 2 }],
    ['audio/pcm;rate=48000;channels=2;format=f32le', { sampleFormat: 'FLOAT_LE', rate: 48000, channels: 2 }],
    ['audio/PCM;FORMAT=F32LE;CHANNELS=8;RATE=192000', { sampleFormat: 'FLOAT_LE', rate: 192000, channels: 8 }],
    ['audio/pcm; format="s24le"; channels=1; rate=11025; bits=24', { sampleFormat: 'S24_3LE', rate: 11025, channels: 1 }],
  ];
  for (const [contentType, format] of cases) t.same(formatOf(contentType), format, contentType);
});

t.test('every parameter mistake is a 400 E_INVALID_PARAMETER that names it', async (t) => {
  const formats = 's16le, s24le, s32le, f32le';
  const cases: [string, string][] = [
    ['audio/L16', 'rate is required for audio/L16'],
    ['audio/L24;channels=2', 'rate is required for audio/L24'],
    ['audio/pcm;channels=2;format=s16le', 'rate is required for audio/pcm'],
    ['audio/L16;rate=0', 'rate=0'],
    ['audio/L16;rate=000', 'rate=000'],
    ['audio/L16;rate=999', 'rate=999 is less than 1000'],
    ['audio/L16;rate=384001', 'rate=384001 is more than 384000'],
    ['audio/L16;rate=99999999999999999999999', 'rate=99999999999999999999999 is more than 384000'],
    ['audio/L16;rate=44100.5', 'rate=44100.5 is not a whole number'],
    ['audio/L16;rate=-8000', 'rate=-8000 is not a whole number'],
    ['audio/L16;rate=+8000', 'rate=+8000 is not a whole number'],
    ['audio/L16;rate=1e4', 'rate=1e4 is not a whole number'],
    ['audio/L16;rate=0x1F40', 'rate=0x1F40 is not a whole number'],
    ['audio/L16;rate=fast', 'rate=fast is not a whole number'],
    ['audio/L16;rate=', 'rate="" is not a whole number'],
    ['audio/L16;rate', 'rate="" is not a whole number'],
    ['audio/L16;rate="8 000"', 'rate="8 000" is not a whole number'],
    [`audio/L16;rate=${'9'.repeat(50)}x`, `rate="${'9'.repeat(40)}…" is not a whole number`],
    ['audio/L16;rate=8000;rate=16000', 'rate is given 2 times (rate=8000, rate=16000)'],
    ['audio/L16;rate=8000;channels=0', 'channels=0'],
    ['audio/L16;rate=8000;channels=9', 'channels=9 is more than 8'],
    ['audio/L24;rate=8000;channels=65536', 'channels=65536 is more than 8'],
    ['audio/L16;rate=8000;channels=two', 'channels=two is not a whole number'],
    ['audio/L16;rate=8000;channels=1.0', 'channels=1.0 is not a whole number'],
    ['audio/pcm;rate=48000;format=s16le', 'channels is required for audio/pcm'],
    ['audio/pcm;rate=48000;channels=2', 'format is required for audio/pcm'],
    ['audio/pcm;rate=48000;channels=2;format=s8', `format=s8 is not one of ${formats}`],
    ['audio/pcm;rate=48000;channels=2;format=s16be', `format=s16be is not one of ${formats}`],
    ['audio/pcm;rate=48000;channels=2;format=constructor', `format=constructor is not one of ${formats}`],
    ['audio/pcm;rate=48000;channels=2;format=', `format="" is not one of ${formats}`],
    ['audio/pcm;rate=48000;channels=2;format=s16le;format=f32le', 'format is given 2 times (format=s16le, format=f32le)'],
  ];
  for (const [contentType, message] of cases) {
    const error = thrown(() => formatOf(contentType)) as SpeakerdError;
    t.type(error, SpeakerdError, contentType);
    t.same({ code: error.code, statusCode: error.statusCode, message: error.message }, { code: 'E_INVALID_PARAMETER', statusCode: 400, message }, contentType);
  }
});

t.test('the hints give the valid range and a working example', async (t) => {
  const hintOf = (contentType: string) => (thrown(() => formatOf(contentType)) as SpeakerdError).hint;
  t.equal(hintOf('audio/L16;rate=0'), 'rate must be a whole number of Hz from 1000 to 384000, for example audio/L16;rate=16000;channels=1');
  t.equal(hintOf('audio/L24;rate=8000;channels=0'), 'channels must be a whole number from 1 to 8, for example audio/L24;rate=48000;channels=2');
  t.equal(
    hintOf('audio/pcm;rate=8000;channels=2'),
    'format must be one of s16le, s24le, s32le, f32le (s24le is 3-byte packed), for example audio/pcm;rate=48000;channels=2;format=s16le',
  );
});

t.test('raw bodies come out as exactly the bytes sent, in whole frames, in every split', async (t) => {
  const types = ['audio/L16', 'audio/L24', 'audio/pcm;format=s16le', 'audio/pcm;format=s24le', 'audio/pcm;format=s32le', 'audio/pcm;format=f32le'];
  let seed = 1;
  for (const type of types) {
    for (let channels = 1; channels <= 8; channels++) {
      const format = formatOf(`${type};rate=16000;channels=${channels}`);
      const data = audioBytes(frameBytes(format) * 53, seed++);
      for (const split of SPLITS) {
        const label = `${type}, ${channels} ch, ${split.name}`;
        const decoder = new RawDecoder(format);
        t.same(decoder.format, format, `${label}: the format is known before any byte`);
        const decoded = decode(decoder, data, split);
        t.ok(decoded.audio.equals(data), `${label}: exactly the data`);
        t.same(decoded.pieces.filter((n) => n === 0 || n % frameBytes(format) !== 0), [], `${label}: whole frames only`);
        t.equal(decoded.truncated, false, `${label}: not truncated`);
      }
    }
  }
});

t.test('a raw body ending inside a frame delivers the whole frames and reports truncated', async (t) => {
  const format = formatOf('audio/L24;rate=48000;channels=2');
  const data = audioBytes(6 * 10 + 5);
  for (const split of SPLITS) {
    const decoded = decode(new RawDecoder(format), data, split);
    t.ok(decoded.audio.equals(data.subarray(0, 60)), `${split.name}: the 10 whole frames`);
    t.equal(decoded.truncated, true, split.name);
  }
  t.same(decode(new RawDecoder(format), Buffer.alloc(0)), { audio: Buffer.alloc(0), pieces: [], truncated: false }, 'an empty body is zero frames, not truncated');
});
