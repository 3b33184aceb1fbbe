// Which engine was measured. The engine changes while benches are run
// against it, so a result records the commit, whether the engine sources
// differed from it, a fingerprint of the addon binary that actually ran, and
// whether dist/ (what the benches start) is older than src/. With
// BENCH_SPEAKERD_CLI, all of that is read from the checkout that CLI belongs
// to, since that is the engine measured.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { SPEAKERD_CLI } from './service.mjs';

/** The directory holding the measured CLI's package.json, as speakerd finds its own (src/project-root.ts). */
function engineRoot(from = path.dirname(SPEAKERD_CLI)) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json in ${from} or above it`);
  }
}

const projectRoot = engineRoot();
const ADDON = path.join(projectRoot, 'build', 'Release', 'speakerd.node');
const ENGINE_SOURCES = ['native', 'src', 'binding.gyp'];

function git(args) {
  try {
    return execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Whether some file under src/ is newer than the compiled service that the benches start. */
function distOlderThanSources() {
  const built = fs.statSync(SPEAKERD_CLI).mtimeMs;
  const newer = (dir) =>
    fs.readdirSync(dir, { withFileTypes: true }).some((entry) => {
      const file = path.join(dir, entry.name);
      return entry.isDirectory() ? newer(file) : fs.statSync(file).mtimeMs > built;
    });
  return newer(path.join(projectRoot, 'src'));
}

export function describeBuild() {
  const addon = fs.readFileSync(ADDON);
  const changed = git(['status', '--porcelain', '--', ...ENGINE_SOURCES]);
  return {
    commit: git(['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    engineSourcesModified: changed === undefined ? 'unknown' : changed.length > 0,
    addonSha256: crypto.createHash('sha256').update(addon).digest('hex').slice(0, 16),
    addonBuilt: fs.statSync(ADDON).mtime.toISOString(),
    distStale: distOlderThanSources(),
  };
}
