// SIGTERM: the whole shutdown fits in SHUTDOWN_GRACE_MS + 1 s, whatever the
// clients do, so that the kubelet never has to SIGKILL us (the manifest's
// terminationGracePeriodSeconds is above that).
//   1. Refuse new streams; close every connection with no request in flight
//      (idle keep-alive ones and those still inside their headers).
//   2. Let the playing streams finish, for up to SHUTDOWN_GRACE_MS.
//   3. Cut the rest: each POST still connected is answered 503
//      E_SHUTTING_DOWN (a stalled body included: the cut wakes its reader).
//   4. Close both listeners (PORT and PROBE_PORT) and every connection
//      left, close the device, and flush telemetry in what remains of the
//      second.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AudioEngine } from './engine/engine';
import type { Telemetry } from './telemetry/sdk';

/** What is left after the grace for answers, the device and telemetry. */
const AFTER_GRACE_MS = 1000;
/** Of that second: for the 503s of the cut streams to be written. */
const ANSWERS_MS = 300;
/** Of that second: kept back for process.exit itself. */
const EXIT_MARGIN_MS = 100;
const TELEMETRY_FLUSH_MS = 3000;

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Resolves when `work` does, or after `ms`, whichever is first. */
async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))]);
  clearTimeout(timer);
}

export async function shutDown(parts: { app: FastifyInstance; engine: AudioEngine; telemetry: Telemetry | undefined; graceMs: number; logger: Logger; signal: NodeJS.Signals }): Promise<void> {
  const { app, engine, telemetry, graceMs, logger, signal } = parts;
  const started = Date.now();
  const deadline = started + graceMs + AFTER_GRACE_MS - EXIT_MARGIN_MS;
  engine.drain();
  const closed = app.connections.closeIdle();
  logger.info({ signal, streams: engine.pending, graceMs, idleConnectionsClosed: closed }, 'shutting down: no new streams');
  // Queued streams were admitted: they play in their turn within the grace period too.
  if (!(await waitUntil(() => engine.pending === 0, graceMs))) {
    logger.warn({ streams: engine.pending }, 'grace period over: cutting the streams still playing');
    engine.cutAll();
    await waitUntil(() => engine.pending === 0, ANSWERS_MS);
  }
  // Closes the listeners and every connection left, then the device.
  await atMost(Promise.all([app.close(), app.probes.close()]), deadline - Date.now());
  app.connections.destroyAll();
  await telemetry?.shutdown(Math.max(0, Math.min(TELEMETRY_FLUSH_MS, deadline - Date.now())));
  logger.info({ tookMs: Date.now() - started }, 'stopped');
}
