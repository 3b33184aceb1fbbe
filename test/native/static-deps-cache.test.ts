// The per-machine cache of the static C libraries (scripts/static-deps-cache.sh):
// a second clone gets the libraries the first built, build-static-deps.sh
// takes them without building, and anything that changes how they are
// built misses the cache. Runs the real scripts in scratch copies of the
// repository layout, with this checkout's own libogg build as the library.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';

const scripts = path.resolve(__dirname, '../../scripts');
const builtLibogg = path.resolve(__dirname, '../../deps/libogg');

/** A clone's layout: the two scripts, and `deps/` as `npm ci` leaves it (libogg built) or empty. */
function clone(t: Parameters<typeof scratchDir>[0], withLibogg: boolean): string {
  const root = scratchDir(t);
  mkdirSync(path.join(root, 'scripts'));
  for (const name of ['build-static-deps.sh', 'static-deps-cache.sh']) cpSync(path.join(scripts, name), path.join(root, 'scripts', name));
  if (withLibogg) cpSync(builtLibogg, path.join(root, 'deps', 'libogg'), { recursive: true });
  return root;
}

function run(root: string, script: string, args: string[], cache: string) {
  return spawnSync('bash', [path.join(root, 'scripts', script), ...args], { encoding: 'utf8', env: { ...process.env, STATIC_DEPS_CACHE: cache } });
}

t.test('a second clone restores what the first kept, and build-static-deps.sh takes it without building', async (t) => {
  const cache = path.join(scratchDir(t), 'cache');
  const first = clone(t, true);
  const kept = run(first, 'static-deps-cache.sh', ['keep'], cache);
  t.equal(kept.status, 0);
  const [entry, ...others] = readdirSync(cache);
  t.same(others, [], 'one entry, and no temporary folder left');
  t.match(entry, /^[0-9a-f]{16}$/);
  t.equal(kept.stderr, `static-deps-cache: kept libogg in ${cache}/${entry}\n`);
  t.equal(run(first, 'static-deps-cache.sh', ['keep'], cache).stderr, '', 'an entry that exists is left as it is');

  t.equal(statSync(path.join(cache, entry!)).mode & 0o777, 0o755, 'the entry is readable by all');

  // Other users read alsa-lib's configuration in deps/ (the tests run
  // speakerd as uid 10001 and nobody): deps/ keeps its mode, whatever the
  // entry's (mktemp made it 0700 before).
  chmodSync(path.join(cache, entry!), 0o700);
  const second = clone(t, false);
  const restored = run(second, 'static-deps-cache.sh', ['restore'], cache);
  t.equal(restored.status, 0);
  t.equal(statSync(path.join(second, 'deps')).mode & 0o777, 0o755, 'deps/ readable by all');
  t.equal(restored.stderr, `static-deps-cache: restored libogg from ${cache}/${entry}\n`);
  t.equal(readFileSync(path.join(second, 'deps/libogg/lib/libogg.a')).compare(readFileSync(path.join(builtLibogg, 'lib/libogg.a'))), 0, 'the same archive');
  const build = run(second, 'build-static-deps.sh', ['libogg'], cache);
  t.equal(build.status, 0);
  t.equal(build.stderr, 'build-static-deps: libogg 1.3.5: cached in deps/libogg\n', 'its stamp matches: nothing fetched or built');
});

t.test('a changed build-static-deps.sh misses the cache: its libraries are built again', async (t) => {
  const cache = path.join(scratchDir(t), 'cache');
  t.equal(run(clone(t, true), 'static-deps-cache.sh', ['keep'], cache).status, 0);
  const changed = clone(t, false);
  appendFileSync(path.join(changed, 'scripts', 'build-static-deps.sh'), '# a changed flag, pin or build step\n');
  const restored = run(changed, 'static-deps-cache.sh', ['restore'], cache);
  t.equal(restored.status, 0);
  t.equal(restored.stderr, '');
  t.notOk(existsSync(path.join(changed, 'deps')), 'nothing restored');
});

t.test('STATIC_DEPS_CACHE empty turns the cache off; a cache that cannot be written does not fail the setup', async (t) => {
  const root = clone(t, true);
  const off = run(root, 'static-deps-cache.sh', ['keep'], '');
  t.equal(off.status, 0);
  t.equal(off.stderr, '');
  const unwritable = run(root, 'static-deps-cache.sh', ['keep'], '/proc/speakerd-cache');
  t.equal(unwritable.status, 0, 'the setup carries on');
  t.equal(unwritable.stderr, 'static-deps-cache: cannot write /proc/speakerd-cache: nothing kept\n');
});

t.test('anything but restore or keep is a usage error, whether the cache is on or off', async (t) => {
  const root = clone(t, false);
  for (const cache of ['', path.join(scratchDir(t), 'cache')]) {
    const wrong = run(root, 'static-deps-cache.sh', ['clear'], cache);
    t.equal(wrong.status, 2);
    t.equal(wrong.stderr, 'usage: scripts/static-deps-cache.sh restore | keep\n');
  }
});
