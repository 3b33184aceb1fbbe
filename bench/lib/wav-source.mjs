// The generated WAV the throughput bench streams into curl and into aplay:
// a header with the streaming size, then the 1 MiB sine pattern again and
// again, written into a pipe by splice-wav.py. Only the header and one copy
// of the pattern are ever stored; the gigabytes exist only in the pipe.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { setupError } from './settings.mjs';
import { sinePattern, wavHeader } from './wav.mjs';

const libDir = path.dirname(fileURLToPath(import.meta.url));
const GENERATOR = path.join(libDir, 'splice-wav.py');
export const DRAIN = path.join(libDir, 'splice-drain.py');

/** python3 with os.splice (3.10+), which the generator needs; a setup error if missing. */
export function findPython() {
  try {
    execFileSync('python3', ['-c', 'import os, fcntl; os.splice; fcntl.F_SETPIPE_SZ'], { stdio: 'ignore' });
    return 'python3';
  } catch {
    throw setupError('the throughput bench needs python3 ≥ 3.10 (os.splice) on PATH: apt-get install python3');
  }
}

/** Writes the header and pattern into `dir`; returns (dataBytes) => the generator's argv for that much audio. */
export function prepareWavSource(dir, { rate, channels }) {
  const python = findPython();
  const headerPath = path.join(dir, 'header.wav');
  const patternPath = path.join(dir, 'pattern.raw');
  fs.writeFileSync(headerPath, wavHeader({ rate, channels }));
  fs.writeFileSync(patternPath, sinePattern({ rate, channels }));
  return (dataBytes) => [python, GENERATOR, headerPath, patternPath, String(dataBytes)];
}
