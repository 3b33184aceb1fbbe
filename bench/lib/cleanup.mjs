// Everything a bench starts (servers, pipelines, CPU hogs) and every temp
// file it writes must go away however the bench ends: normally, by an
// exception, or by Ctrl-C. Benches register a synchronous undo here as they
// create each thing, and drop it once they have cleaned up themselves.

const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const pending = new Set();
let installed = false;

function runAll() {
  for (const undo of [...pending].reverse()) {
    pending.delete(undo);
    try {
      undo();
    } catch {
      // Best effort: one failed undo must not keep the others from running.
    }
  }
}

function onInterrupt(signal) {
  runAll();
  // Die of the same signal, as if we had not caught it.
  for (const name of INTERRUPTS) process.removeListener(name, onInterrupt);
  process.kill(process.pid, signal);
}

function install() {
  if (installed) return;
  installed = true;
  // 'exit' also runs after an uncaught exception; its handlers must be synchronous.
  process.on('exit', runAll);
  for (const name of INTERRUPTS) process.on(name, onInterrupt);
}

/** Registers a synchronous `undo`; returns the function that unregisters it. */
export function onCleanup(undo) {
  install();
  pending.add(undo);
  return () => pending.delete(undo);
}
