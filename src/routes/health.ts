// The kubelet's probes. None of them waits for anything.
import type { FastifyInstance } from 'fastify';

// The kubelet asks every few seconds: two log lines per probe would bury
// what matters, and cost the event loop most under a flood. Failures still
// show in the probe's own answer and in the kubelet's events.
const QUIET = { logLevel: 'warn' } as const;

// A 503 says why in the documented error shape, next to the probe's status.
const STARTING = { code: 'E_NOT_READY', message: 'the audio device is still being opened', hint: 'wait: the startup probe allows for a slow card (AUDIO_OPEN_TIMEOUT_MS)' };
const DRAINING = { code: 'E_SHUTTING_DOWN', message: 'speakerd is shutting down and takes no new streams', hint: 'nothing to do: the pod is being replaced' };

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
      error: {
        code: 'E_DEVICE_LOST_FOR_GOOD',
        message: `the audio device was lost ${loss.since.toISOString()} (${loss.error.code}: ${loss.error.message}) and ${loss.attempts} reopen attempt(s) in AUDIO_LOST_RESTART_S=${seconds} s failed`,
        hint: 'a restart gets the node\'s current device nodes and decides the mode again: the kubelet restarts the pod on this answer. If the card is gone for good, check the node (/proc/asound/cards); AUDIO_LOST_RESTART_S=0 keeps waiting in this process instead',
      },
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
