// Builds the Fastify app from its plugins and routes. Listening and signals
// are main.ts's business.
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config';
import type { AudioEngine } from './engine/engine';
import { SpeakerdError } from './errors';
import audioPlugin from './plugins/audio';
import { requireBearerToken } from './plugins/auth';
import deviceRoutes from './routes/device';
import healthRoutes from './routes/health';
import metricsRoutes from './routes/metrics';
import streamRoutes from './routes/streams';
import { ServiceMetrics } from './telemetry/metrics';
import type { Telemetry } from './telemetry/sdk';

export interface RouteEntry {
  method: string;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, HEAD included: what the test that no /v1 route is open walks. */
    routeTable: readonly RouteEntry[];
  }
}

export async function buildApp(config: Config, engine: AudioEngine, logger: Logger, telemetry?: Telemetry): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Streams are long requests: Node's default 5 min request timeout would
    // cut an hour-long announcement. Idle bodies are cut by our own timer.
    requestTimeout: 0,
    genReqId: () => Math.random().toString(36).slice(2, 10),
    // Ajv checks each route schema against the JSON Schema meta-schema by
    // default, and compiling that meta-schema took about 35 ms of every
    // start (design §8: ≤ 300 ms). The route schemas are constants: the
    // check runs in test/service/route-schemas.test.ts instead. Requests are
    // validated the same either way.
    ajv: { customOptions: { validateSchema: false } },
  });

  app.setErrorHandler((error: FastifyError | SpeakerdError, request, reply) => {
    let failure: SpeakerdError;
    if (error instanceof SpeakerdError) {
      failure = error;
    } else if ((error as FastifyError).validation) {
      failure = new SpeakerdError('E_INVALID_PARAMETER', 400, error.message, 'see the API in README.md for the parameters and their ranges');
    } else if ((error as FastifyError).statusCode && (error as FastifyError).statusCode! < 500) {
      failure = new SpeakerdError((error as FastifyError).code ?? 'E_BAD_REQUEST', (error as FastifyError).statusCode!, error.message, 'check the request');
    } else {
      request.log.error({ err: error }, 'unexpected error');
      failure = new SpeakerdError('E_INTERNAL', 500, 'speakerd failed unexpectedly; the log has the details', 'report this with the log lines around it');
    }
    if (failure.retryAfterSeconds !== undefined) reply.header('retry-after', String(failure.retryAfterSeconds));
    return reply.code(failure.statusCode).send(failure.toBody());
  });

  // A body we stopped reading (an error, or audio past the declared data)
  // would otherwise be drained to its end before the connection is reused.
  app.addHook('onSend', async (request, reply) => {
    if (!request.raw.complete) reply.header('connection', 'close');
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(new SpeakerdError('E_NOT_FOUND', 404, `no route for ${request.method} ${request.url}`, 'see the API in README.md').toBody()),
  );

  const routeTable: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routeTable.push({ method, url: route.url });
  });
  app.decorate('routeTable', routeTable);

  await app.register(audioPlugin, { engine });
  // Open: the kubelet's probes and Prometheus.
  await app.register(healthRoutes);
  await app.register(metricsRoutes, { telemetry });
  // The API: every route in this scope passes the token check first.
  await app.register(async (api) => {
    requireBearerToken(api, config.authToken);
    await api.register(deviceRoutes, { config });
    const metrics = new ServiceMetrics(engine);
    await api.register(streamRoutes, { maxStreamSeconds: config.maxStreamSeconds, streamIdleTimeoutMs: config.streamIdleTimeoutMs, metrics });
  });
  return app;
}
