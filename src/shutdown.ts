// SIGTERM: the whole shutdown fits in SHUTDOWN_GRACE_MS + 1 s, whatever the
// clients do, so that the kubelet never has to SIGKILL us (the manifest's
// terminationGracePeriodSeconds is above that).
//   1. Refuse new streams; close every connection with no request in flight
//      (idle keep-alive ones and those still inside their headers).
//   2. Let the playing streams finish, for up to SHUTDOWN_GRACE_MS.
//   3. Cut the rest: each POST still connected is answered 503
//      E_SHUTTING_DOWN (a stalled body included: the cut wakes its reader).
//      Every stream's answer, 200 or 503, is written before any connection
//      is closed, in what the second after the grace leaves, and a
//      connection Node closes after its answer is ended, not destroyed.
//   4. End every connection (a reset could overtake its answer), close both
//      listeners (PORT and PROBE_PORT) and every connection left, close the
//      device, and flush telemetry in what remains of the second.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AudioEngine } from './engine/engine';
import type { Telemetry } from './telemetry/sdk';

/** What is left after the grace for answers, the device and telemetry. */
const AFTER_GRACE_MS = 1000;
/** Of that second: kept back for process.exit itself. */
const EXIT_MARGIN_MS = 100;
/** Before that: for the listeners and the device to close. */
const CLOSE_MS = 100;
/** Before that: for the clients to read their answers and close, once their connections are ended. */
const LINGER_MS = 100;
// The answers may take the rest: with both cores busy, a cut stream's 503
// was written 0.4-1.1 s after the cut (it had 300 ms, and the client of one
// in about 15 got its connection closed instead).
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
  app.connections.lingerFromNow();
  logger.info({ signal, streams: engine.pending, graceMs, idleConnectionsClosed: closed }, 'shutting down: no new streams');
  // Queued streams were admitted: they play in their turn within the grace period too.
  if (!(await waitUntil(() => engine.pending === 0, graceMs))) {
    logger.warn({ streams: engine.pending }, 'grace period over: cutting the streams still playing');
    engine.cutAll();
  }
  const answered = () => engine.pending === 0 && app.connections.uploadsInFlight === 0;
  if (!(await waitUntil(answered, deadline - CLOSE_MS - LINGER_MS - Date.now()))) {
    logger.warn({ streams: engine.pending, uploads: app.connections.uploadsInFlight }, 'closing connections whose answers are not written yet');
  }
  // Ends the connections, so that their clients read the answers and close;
  // then closes the listeners and destroys whatever connection is left.
  app.connections.endAll();
  await waitUntil(() => app.connections.open === 0, deadline - CLOSE_MS - Date.now());
  await atMost(Promise.all([app.close(), app.probes.close()]), deadline - Date.now());
  app.connections.destroyAll();
  await telemetry?.shutdown(Math.max(0, Math.min(TELEMETRY_FLUSH_MS, deadline - Date.now())));
  logger.info({ tookMs: Date.now() - started }, 'stopped');
}
