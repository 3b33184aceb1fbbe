// Which engine was measured. The engine changes while benches are run
// against it, so a result records the commit, whether the engine sources
// differed from it, a fingerprint of the addon binary that actually ran, and
// whether dist/ (what the benches start) is older than src/.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
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
  const built = fs.statSync(path.join(projectRoot, 'dist', 'cli.js')).mtimeMs;
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
