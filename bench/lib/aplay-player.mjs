// Debian's aplay, fed the way a shell user feeds it: `source | aplay`.
import fs from 'node:fs';
import path from 'node:path';

import { commandLine, runPipeline } from './pipeline.mjs';

export const APLAY_MISSING_MESSAGE = 'aplay not found: apt-get install alsa-utils';

/** The absolute path of aplay on PATH, or undefined. */
export function findAplay() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'aplay');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The pipeline as typed into a shell. */
export function aplayCommandLine({ aplayPath, source, pcmName, configPath }) {
  return `${commandLine(source)} | ALSA_CONFIG_PATH=${configPath} ${commandLine([aplayPath, '-q', '-D', pcmName])}`;
}

/** Pipes `source`'s output into aplay on `pcmName`; resolves with the wall and CPU seconds of the whole pipeline. */
export function playThroughAplay(job) {
  return runPipeline(aplayCommandLine(job));
}
