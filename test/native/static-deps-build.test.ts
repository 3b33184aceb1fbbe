// The static dependency build refuses sources that do not match the pinned
// checksum. Runs the real script in a scratch copy of the repository layout.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';

const script = path.resolve(__dirname, '../../scripts/build-static-deps.sh');

function scratchCopy(t: Parameters<typeof scratchDir>[0]): string {
  const root = scratchDir(t);
  mkdirSync(path.join(root, 'scripts'));
  copyFileSync(script, path.join(root, 'scripts', 'build-static-deps.sh'));
  return root;
}

t.test('an ALSA_LIB_TARBALL whose sha256 differs from the pin is refused before anything is built', async (t) => {
  const root = scratchCopy(t);
  const tarball = path.join(root, 'alsa-lib-1.2.8.tar.bz2');
  writeFileSync(tarball, 'not the release');
  const result = spawnSync('bash', [path.join(root, 'scripts', 'build-static-deps.sh')], {
    encoding: 'utf8',
    env: { ...process.env, ALSA_LIB_TARBALL: tarball },
  });
  t.equal(result.status, 1);
  t.equal(
    result.stderr,
    'build-static-deps: alsa-lib 1.2.8: using ALSA_LIB_TARBALL=' + tarball + '\n' +
      `build-static-deps: alsa-lib: sha256 mismatch for ${tarball}: expected ` +
      '1ab01b74e33425ca99c2e36c0844fd6888273193bd898240fe8f93accbcbf347, got ' +
      '7df2fd503649d891b89bc9740bad1b1139fdc690759813e07dd8781f5140ad07\n',
  );
  t.notOk(existsSync(path.join(root, 'deps', 'alsa-lib', '.stamp')), 'nothing was installed');
});

t.test('an unknown library name is refused', async (t) => {
  const root = scratchCopy(t);
  const result = spawnSync('bash', [path.join(root, 'scripts', 'build-static-deps.sh'), 'libfoo'], { encoding: 'utf8' });
  t.equal(result.status, 2);
  t.equal(result.stderr, 'build-static-deps: unknown library: libfoo\n');
});

t.test('<NAME>_SHA256 replaces the pin for a library of one\'s own (relinking, as the LGPL provides), and says so', async (t) => {
  const root = scratchCopy(t);
  const tarball = path.join(root, 'libogg-mine.tar.xz');
  writeFileSync(tarball, 'a modified libogg');
  const sha = '0b2a3a2c3bd9f4a8b9a9d6b0c0a1b8f2a0f1c8e0c9f5a0f6c1e2d3b4a5f6e7d8';
  const mine = spawnSync('sha256sum', [tarball], { encoding: 'utf8' }).stdout.split(' ')[0]!;
  const refused = spawnSync('bash', [path.join(root, 'scripts', 'build-static-deps.sh'), 'libogg'], {
    encoding: 'utf8',
    env: { ...process.env, LIBOGG_TARBALL: tarball, LIBOGG_SHA256: sha },
  });
  t.equal(refused.status, 1, 'a checksum that does not match the tarball is refused still');
  t.match(refused.stderr, `build-static-deps: libogg: sha256 mismatch for ${tarball}: expected ${sha}, got ${mine}`);
  const taken = spawnSync('bash', [path.join(root, 'scripts', 'build-static-deps.sh'), 'libogg'], {
    encoding: 'utf8',
    env: { ...process.env, LIBOGG_TARBALL: tarball, LIBOGG_SHA256: mine },
  });
  t.match(taken.stderr, /^build-static-deps: libogg: LIBOGG_SHA256 replaces the pinned sha256 [0-9a-f]{64}\n/, 'the override is announced');
  t.match(taken.stderr, 'build-static-deps: libogg 1.3.5: sha256 verified; building', 'and the tarball is taken to the build');
  t.equal(taken.status, 1, 'which this one, not being a tarball at all, fails');
  t.notOk(existsSync(path.join(root, 'deps', 'libogg', '.stamp')), 'nothing was installed');
});
