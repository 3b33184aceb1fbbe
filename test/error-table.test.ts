// Every error a client can receive comes from one table (src/error-table.ts):
// each situation has a stable code, an HTTP error status, a message and a
// hint; one code means one thing however it arises; and no other file
// builds an error answer by hand.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ERRORS, errorBody, failure } from '../src/error-table';

const SRC = path.resolve(__dirname, '../src');

t.test('every situation has a code, an error status, a message and a hint', async (t) => {
  for (const [name, spec] of Object.entries(ERRORS)) {
    t.match(spec.code, /^E_[A-Z_]+$/, `${name}: code`);
    t.ok(spec.status >= 400 && spec.status <= 599, `${name}: status ${spec.status} is an error status`);
  }
});

t.test('a device lost is worded with one hint wherever it is found', async (t) => {
  const lost = Object.values(ERRORS).filter((spec) => spec.code === 'E_DEVICE_LOST');
  t.equal(lost.length, 3, 'at admission, in the moment it happened, and during a stream');
  t.same(new Set(lost.map((spec) => spec.hint)).size, 1);
  t.same(new Set(lost.map((spec) => spec.status)), new Set([503]));
});

t.test('failure() fills the template, the status and Retry-After', async (t) => {
  const lost = failure('DEVICE_LOST', {
    since: new Date('2026-12-02T10:00:00.000Z'),
    cause: { code: 'E_ALSA_IO', message: 'No such device' },
    attempts: 3,
    nextAttemptAt: new Date(10_500),
    now: 8_000,
  });
  t.same(
    { code: lost.code, status: lost.statusCode, message: lost.message, retryAfter: lost.retryAfterSeconds },
    { code: 'E_DEVICE_LOST', status: 503, message: 'the audio device was lost 2026-12-02T10:00:00.000Z (E_ALSA_IO: No such device); 3 reopen attempt(s) so far', retryAfter: 3 },
  );
  t.equal(failure('BAD_REQUEST', { status: 405, message: 'nope' }).statusCode, 405, "the framework's own 4xx keeps its status");
  t.same(errorBody('TOO_MANY_STREAMS', { playing: 16, maxStreams: 16 }), {
    code: 'E_TOO_MANY_STREAMS',
    message: '16 streams are already playing, the most this instance mixes (MAX_STREAMS=16)',
    hint: 'retry after the number of seconds in Retry-After, or raise MAX_STREAMS',
  });
});

t.test('no file but the table builds an error answer', async (t) => {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts') && file !== 'error-table.ts');
  const offenders = files.filter((file) => {
    const text = readFileSync(path.join(SRC, file), 'utf8');
    return /new SpeakerdError\(/.test(text) || /code: 'E_[A-Z_]+',\s*message:/.test(text);
  });
  t.same(offenders, []);
});
