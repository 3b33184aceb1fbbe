// The kubelet's probes. None of them waits for anything.
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../error-table';

// The kubelet asks every few seconds: two log lines per probe would bury
// what matters, and cost the event loop most under a flood. Failures still
// show in the probe's own answer and in the kubelet's events.
const QUIET = { logLevel: 'warn' } as const;

// A 503 says why in the documented error shape, next to the probe's status.
const STARTING = errorBody('STARTING');
const DRAINING = errorBody('DRAINING');

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  // Startup probe: 200 only once the device (or headless mode) is settled.
  app.get('/healthz', QUIET, async (_request, reply) => {
    const engine = app.audio;
    if (engine.state === 'starting') return reply.code(503).send({ status: 'starting', error: STARTING });
    return { status: 'ok', mode: engine.mode };
  });

  // Liveness: the process and its event loop answer. A restart never fixes
  // a missing or busy sound card, so the device is checked in one case only:
  // lost for AUDIO_LOST_RESTART_S without a reopen, when the card can only
  // have come back under nodes this container was not given at start.
  app.get('/livez', QUIET, async (_request, reply) => {
    const loss = app.audio.loss;
    if (!loss?.forGood) return { status: 'alive' };
    const seconds = Math.round((loss.restartAt!.getTime() - loss.since.getTime()) / 1000);
    return reply.code(503).send({
      status: 'device_lost_for_good',
      error: errorBody('DEVICE_LOST_FOR_GOOD', { since: loss.since, cause: loss.error, attempts: loss.attempts, seconds }),
    });
  });

  // Readiness: new streams are accepted. A lost device takes the pod out of
  // the Service's endpoints while it is reopened, without a restart.
  app.get('/readyz', QUIET, async (_request, reply) => {
    const engine = app.audio;
    if (engine.accepting) return { status: 'ready', mode: engine.mode };
    const loss = engine.loss;
    if (loss && !engine.draining) {
      return reply.code(503).send({
        status: 'device_lost',
        error: { code: loss.error.code, message: `the audio device was lost: ${loss.error.message}`, hint: 'speakerd reopens it by itself; GET /v1/device says why it is gone and when the next attempt is' },
        cause: loss.error,
        since: loss.since.toISOString(),
        attempts: loss.attempts,
        nextAttemptAt: loss.nextAttemptAt?.toISOString() ?? null,
      });
    }
    if (engine.state === 'starting') return reply.code(503).send({ status: 'starting', error: STARTING });
    return reply.code(503).send({ status: 'draining', error: DRAINING });
  });
}
