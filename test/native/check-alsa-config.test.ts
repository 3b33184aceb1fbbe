// checkAlsaConfig: ALSA configuration text merged over alsa.conf as an open
// would, nothing opened, alsa-lib's own words (with the parser's line) back
// when it refuses.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { checkAlsaConfig, openDevice, type NativeError } from '../../src/engine/native';
import { projectRoot } from '../../src/project-root';

t.test('valid text: ok, and nothing else', async (t) => {
  t.same(checkAlsaConfig('pcm.out { type file slave.pcm null file "/tmp/never-opened.raw" format raw }'), { ok: true });
  t.same(checkAlsaConfig('pcm.out {\n  type null\n}\n# a comment\n'), { ok: true });
});

t.test('empty text adds nothing and is valid', async (t) => {
  t.same(checkAlsaConfig(''), { ok: true });
});

t.test("malformed text: alsa-lib's parse error, with the line and column", async (t) => {
  t.same(checkAlsaConfig('pcm.x { type file'), { ok: false, message: '_snd_config_load_with_include: _toplevel_:1:17:Unexpected char' });
  t.same(checkAlsaConfig('pcm.out {\n  type null\n  a = = b\n}\n'), { ok: false, message: '_snd_config_load_with_include: _toplevel_:3:9:Unexpected char' });
  // A stray "}" closes the top level: alsa-lib then names no file at all.
  t.same(checkAlsaConfig('pcm.out {\n  type null\n}\n}\n'), { ok: false, message: '_snd_config_load_with_include: :4:1:Unexpected }' });
});

t.test('text that clashes with alsa.conf is refused, as only merging over it shows', async (t) => {
  t.same(checkAlsaConfig('pcm 5'), { ok: false, message: 'parse_value: pcm is not an integer; _snd_config_load_with_include: _toplevel_:1:5:Invalid argument' });
});

t.test('the check refuses what openDevice refuses, in the same words', async (t) => {
  for (const text of ['pcm.x { type file', 'pcm 5', '<no-such-file.conf>']) {
    const check = checkAlsaConfig(text);
    const error = (await openDevice({ pcm: 'x', alsaConfig: text }).catch((e: unknown) => e)) as NativeError;
    t.equal(error.code, 'E_ALSA_CONFIG', `${JSON.stringify(text)}: the open fails on the configuration`);
    t.same(check, { ok: false, message: error.alsaMessages.join('; ') }, `${JSON.stringify(text)}: the same alsa-lib lines`);
  }
});

t.test("alsa-lib's complaints go to the result, not to the process's stderr", async (t) => {
  // In a child process: the native handler writes to fd 2 itself when
  // nothing collects, which no spy inside this process would see.
  const script = `const r = require(${JSON.stringify(path.join(projectRoot, 'dist/engine/native.js'))}).checkAlsaConfig('a b c }'); process.stdout.write(JSON.stringify(r));`;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(child.status, 0);
  t.same(JSON.parse(child.stdout), { ok: false, message: '_snd_config_load_with_include: _toplevel_:1:7:Unexpected char' });
  t.equal(child.stderr, '');
});

t.test('anything but a string is a TypeError with a code', async (t) => {
  t.throws(() => checkAlsaConfig(42 as never), { name: 'TypeError', code: 'E_INVALID_ARG', message: 'checkAlsaConfig() needs ALSA configuration text' });
});
