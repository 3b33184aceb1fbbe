// Load on every core: busy loops at normal priority, as a neighbouring
// build or batch job would be.
import os from 'node:os';

import { spawnTracked, stopTracked } from './children.mjs';

/** Starts one busy process per available core (or `count`); resolves with the function that stops them. */
export async function startCpuHogs(count = os.availableParallelism()) {
  const hogs = Array.from({ length: count }, () => spawnTracked(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  // Let them get going before anything is measured.
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const hog of hogs) {
    if (hog.exitCode !== null) throw new Error(`a CPU hog exited at once (code ${hog.exitCode})`);
  }
  return async () => {
    await Promise.all(hogs.map((hog) => stopTracked(hog, { signal: 'SIGKILL' })));
  };
}
