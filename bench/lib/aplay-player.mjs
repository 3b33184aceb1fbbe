// Runs Debian's aplay the way a shell user would, `cat file.wav | aplay`,
// and times the whole pipeline.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { reapedChildrenCpuSeconds } from './cpu-time.mjs';

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

/** How the pipeline reads when typed into a shell. */
export function aplayCommandLine({ wavPath, pcmName, configPath }) {
  return `cat ${wavPath} | ALSA_CONFIG_PATH=${configPath} aplay -q -D ${pcmName}`;
}

function runToCompletion(child) {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** Pipes the whole WAV file into aplay on `pcmName`; resolves with the wall and CPU seconds of the pipeline. */
export async function playThroughAplay({ aplayPath, wavPath, pcmName, configPath }) {
  const cpuBefore = reapedChildrenCpuSeconds();
  const started = process.hrtime.bigint();
  // A real pipe between two processes, as `cat | aplay`: Node stays out of
  // the data path. pipefail so that a failing cat is not hidden by aplay.
  const child = spawn('bash', ['-o', 'pipefail', '-c', 'cat -- "$1" | "$2" -q -D "$3"', 'bash', wavPath, aplayPath, pcmName], {
    env: { ...process.env, ALSA_CONFIG_PATH: configPath },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { code, signal, stderr } = await runToCompletion(child);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) {
    throw new Error(`aplay on ${pcmName} failed (${signal ?? `exit code ${code}`}): ${stderr.trim()}`);
  }
  // bash waited for cat and aplay, and we for bash: all three are in here.
  return { seconds, cpuSeconds: reapedChildrenCpuSeconds() - cpuBefore };
}
