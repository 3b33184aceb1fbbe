import t from 'tap';
import { parseContentType } from '../../src/formats/content-type';

t.test('the media type is lower-cased and trimmed; parameters keep their order', async (t) => {
  t.same(parseContentType('Audio/WAV'), { essence: 'audio/wav', parameters: [] });
  t.same(parseContentType('  audio/L16 ; Rate=8000;CHANNELS = 2 '), {
    essence: 'audio/l16',
    parameters: [
      ['rate', '8000'],
      ['channels', '2'],
    ],
  });
});

t.test('quoted values may hold semicolons, equals signs and escaped quotes', async (t) => {
  t.same(parseContentType('audio/pcm; title="a;b=c"; note="say \\"hi\\""; rate="8000"'), {
    essence: 'audio/pcm',
    parameters: [
      ['title', 'a;b=c'],
      ['note', 'say "hi"'],
      ['rate', '8000'],
    ],
  });
});

t.test('values keep their case; an unterminated quote runs to the end', async (t) => {
  t.same(parseContentType('audio/pcm;format=S16LE;x="open'), {
    essence: 'audio/pcm',
    parameters: [
      ['format', 'S16LE'],
      ['x', 'open'],
    ],
  });
});

t.test('empty segments and nameless parameters are skipped; a name without "=" has an empty value', async (t) => {
  t.same(parseContentType('audio/L16;;  ; =5; rate; channels=1;'), {
    essence: 'audio/l16',
    parameters: [
      ['rate', ''],
      ['channels', '1'],
    ],
  });
});

t.test('anything at all parses without throwing', async (t) => {
  t.same(parseContentType(''), { essence: '', parameters: [] });
  t.same(parseContentType(';'), { essence: '', parameters: [] });
  t.same(parseContentType('"'), { essence: '"', parameters: [] });
  t.same(parseContentType('a\\'), { essence: 'a\\', parameters: [] });
  t.same(parseContentType('x;a="\\'), { essence: 'x', parameters: [['a', '\\']] });
});
