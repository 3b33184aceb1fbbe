// The directory speakerd is installed in (the one holding its package.json),
// where the addon, alsa-lib's configuration and the version live. Found by
// walking up rather than by a fixed number of `..`: the same code runs from
// src/ (tests), from dist/ as tsc writes it, and from dist/cli.js, the
// bundle that holds every module in one file (scripts/bundle.mjs).
import { existsSync } from 'node:fs';
import path from 'node:path';

function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`speakerd: no package.json in ${from} or above it: cannot find the installation`);
  }
}

export const projectRoot = findProjectRoot(__dirname);
