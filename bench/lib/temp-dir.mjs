// A temporary directory that is removed however the bench ends: normally, by
// an exception, or by Ctrl-C (a 512 MiB WAV must not be left in /tmp).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function withTempDir(prefix, use) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  const onInterrupt = (signal) => {
    remove();
    // Die of the same signal, as if we had not caught it.
    for (const name of INTERRUPTS) process.removeListener(name, onInterrupt);
    process.kill(process.pid, signal);
  };
  for (const name of INTERRUPTS) process.on(name, onInterrupt);
  try {
    return await use(dir);
  } finally {
    for (const name of INTERRUPTS) process.removeListener(name, onInterrupt);
    remove();
  }
}
