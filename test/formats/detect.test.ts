import t from 'tap';
import { SpeakerdError } from '../../src/errors';
import { decoderFor } from '../../src/formats/detect';
import { RawDecoder } from '../../src/formats/raw';
import { SniffedDecoder } from '../../src/formats/sniffed';
import { thrown } from './fixtures/bodies';

const SUPPORTED_HINT =
  'send one of: audio/wav, audio/x-wav, audio/wave, audio/vnd.wave, audio/L16;rate=R;channels=C, audio/L24;rate=R;channels=C, ' +
  'audio/pcm;rate=R;channels=C;format=s16le|s24le|s32le|f32le, audio/flac, audio/ogg (Opus or Vorbis; codecs= honoured), audio/opus, ' +
  'audio/mpeg, audio/mp3, audio/webm (Opus), none or application/octet-stream (the first bytes decide)';

t.test('every name of WAV, in any case and with any parameters, gets a decoder that expects WAV, with no format yet', async (t) => {
  for (const contentType of ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave', 'AUDIO/WAV', 'Audio/X-Wav', ' audio/wav ', 'audio/wav; codecs=1', 'audio/vnd.wave;codec="1"']) {
    const decoder = decoderFor(contentType);
    t.type(decoder, SniffedDecoder, contentType);
    t.equal(decoder.format, undefined, contentType);
    t.equal(decoder.codec, undefined, contentType);
    t.same(decoder.write(Buffer.from('RIFF')), [], `${contentType}: RIFF is taken, and the header is being read`);
  }
});

t.test('raw types get a raw decoder whose format is known at once', async (t) => {
  const cases = [
    ['audio/L16;rate=16000', { sampleFormat: 'S16_BE', rate: 16000, channels: 1 }],
    ['audio/l24; rate="48000"; channels=2', { sampleFormat: 'S24_3BE', rate: 48000, channels: 2 }],
    ['Audio/PCM;rate=44100;channels=2;format=S32LE', { sampleFormat: 'S32_LE', rate: 44100, channels: 2 }],
  ] as const;
  for (const [contentType, format] of cases) {
    const decoder = decoderFor(contentType);
    t.type(decoder, RawDecoder, contentType);
    t.same(decoder.format, format, contentType);
  }
});

t.test('a raw type with bad parameters is a 400, not a 415', async (t) => {
  const error = thrown(() => decoderFor('audio/L16;channels=2')) as SpeakerdError;
  t.same({ code: error.code, statusCode: error.statusCode, message: error.message }, { code: 'E_INVALID_PARAMETER', statusCode: 400, message: 'rate is required for audio/L16' });
});

t.test('anything else is a 415 that names what was sent and lists every supported type', async (t) => {
  const cases: [string | undefined, string][] = [
    ['video/webm', 'unsupported content type "video/webm"'],
    ['audio/webm; codecs=vorbis', 'unsupported content type "audio/webm; codecs=vorbis"'],
    ['audio/aac', 'unsupported content type "audio/aac"'],
    ['audio/ogg; codecs=flac', 'unsupported content type "audio/ogg; codecs=flac"'],
    ['text/plain;charset=utf-8', 'unsupported content type "text/plain;charset=utf-8"'],
    ['audio/wav2', 'unsupported content type "audio/wav2"'],
    ['audio/L8;rate=8000', 'unsupported content type "audio/L8;rate=8000"'],
    ['audio', 'unsupported content type "audio"'],
    ['wav', 'unsupported content type "wav"'],
    [';rate=8000', 'unsupported content type ";rate=8000"'],
    ['audio/"wav"', 'unsupported content type "audio/\\"wav\\""'],
    [`audio/${'x'.repeat(200)}`, `unsupported content type "audio/${'x'.repeat(94)}…"`],
  ];
  for (const [contentType, message] of cases) {
    const error = thrown(() => decoderFor(contentType)) as SpeakerdError;
    t.type(error, SpeakerdError, String(contentType));
    t.same(
      { code: error.code, statusCode: error.statusCode, message: error.message, hint: error.hint },
      { code: 'E_UNSUPPORTED_MEDIA_TYPE', statusCode: 415, message, hint: hintFor(contentType) },
      String(contentType),
    );
  }
});

function hintFor(contentType: string | undefined): string {
  if (contentType?.includes('codecs=flac')) return `speakerd plays Ogg with codecs=opus or codecs=vorbis; ${SUPPORTED_HINT}`;
  if (contentType?.startsWith('audio/webm')) return `speakerd plays WebM with codecs=opus; ${SUPPORTED_HINT}`;
  return SUPPORTED_HINT;
}
