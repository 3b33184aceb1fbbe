// Child processes that cannot outlive the bench. Each is started as the
// leader of its own process group, so that stopping it also stops what it
// started (the processes of a shell pipeline): the group is signalled by the
// id of the process the bench started, never by name.
import { spawn } from 'node:child_process';

import { onCleanup } from './cleanup.mjs';

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * spawn() whose process group is SIGKILLed if the bench ends first.
 * `child.exited` resolves with [code, signal] once it has exited.
 */
export function spawnTracked(command, args, options = {}) {
  const child = spawn(command, args, { ...options, detached: true });
  child.exited = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve([code, signal]));
  });
  // An 'error' (command not found) is reported through `exited`.
  child.exited.catch(() => {});
  if (child.pid === undefined) return child;
  const forget = onCleanup(() => signalGroup(child, 'SIGKILL'));
  child.exited.finally(() => {
    // The leader has exited; whatever is left in its group goes too.
    signalGroup(child, 'SIGKILL');
    forget();
  }).catch(() => {});
  return child;
}

/** Stops a tracked child: `signal` first, SIGKILL to its whole group after `graceMs`. */
export async function stopTracked(child, { signal = 'SIGTERM', graceMs = 3000 } = {}) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return child.exited;
  try {
    process.kill(child.pid, signal);
  } catch {
    // Already exited.
  }
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  try {
    return await child.exited;
  } finally {
    clearTimeout(timer);
  }
}
