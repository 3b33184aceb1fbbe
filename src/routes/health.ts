// The kubelet's probes. None of them waits for anything.
import type { FastifyInstance } from 'fastify';

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  // Startup probe: 200 only once the device (or headless mode) is settled.
  app.get('/healthz', async (_request, reply) => {
    const engine = app.audio;
    if (engine.state === 'starting') return reply.code(503).send({ status: 'starting' });
    return { status: 'ok', mode: engine.mode };
  });

  // Liveness: the process and its event loop answer. A restart never fixes
  // a missing or busy sound card, so nothing about the device is checked.
  app.get('/livez', async () => ({ status: 'alive' }));

  // Readiness: new streams are accepted. A lost device takes the pod out of
  // the Service's endpoints while it is reopened, without a restart.
  app.get('/readyz', async (_request, reply) => {
    const engine = app.audio;
    if (engine.accepting) return { status: 'ready', mode: engine.mode };
    const loss = engine.loss;
    if (loss && !engine.draining) {
      return reply.code(503).send({ status: 'device_lost', error: loss.error, since: loss.since.toISOString(), attempts: loss.attempts, nextAttemptAt: loss.nextAttemptAt?.toISOString() ?? null });
    }
    const status = engine.state === 'starting' ? 'starting' : 'draining';
    return reply.code(503).send({ status });
  });
}
