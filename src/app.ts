// Builds the Fastify app from its plugins and routes. Listening and signals
// are main.ts's business.
import type { Server } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config';
import { holdToSmallBuffer } from './engine/body-reader';
import type { AudioEngine } from './engine/engine';
import { Playback } from './engine/playback';
import { answerClientError } from './http/client-errors';
import { ConnectionGuard } from './http/connection-guard';
import { failure } from './error-table';
import { answerError, requireHostHeader } from './http/framework-errors';
import { PROBE_ROUTES, ProbeListener } from './http/probe-listener';
import audioPlugin from './plugins/audio';
import { requireBearerToken } from './plugins/auth';
import broadcastRoutes from './routes/broadcast';
import deviceRoutes from './routes/device';
import controlRoutes from './routes/control';
import eventRoutes from './routes/events';
import healthRoutes from './routes/health';
import metricsRoutes from './routes/metrics';
import streamRoutes from './routes/streams';
import { ServiceMetrics } from './telemetry/metrics';
import { streamTelemetry } from './telemetry/stream-telemetry';
import type { Telemetry } from './telemetry/sdk';

export interface RouteEntry {
  method: string;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, HEAD included: what the test that no /v1 route is open walks. */
    routeTable: readonly RouteEntry[];
    /** The open connections: the cap, and what shutdown closes. */
    connections: ConnectionGuard;
    /** The probe port's listener; it listens only when PROBE_PORT is set (main.ts). */
    probes: ProbeListener;
  }
}

export async function buildApp(config: Config, engine: AudioEngine, logger: Logger, telemetry?: Telemetry): Promise<FastifyInstance> {
  // The same for PORT and for the probe port.
  const httpOptions = {
    // Here as well as in Fastify's options: Node checks headersTimeout
    // against it when the server is made.
    requestTimeout: 0,
    headersTimeout: config.headersTimeoutMs,
    // Node checks the headers' deadline on this interval (30 s by
    // default), which let a slow head hold a connection for up to 90 s.
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
    // Node answers a missing Host with an empty 400 of its own; the
    // onRequest hook below answers it in the documented shape.
    requireHostHeader: false,
  };
  const answerParserError = answerClientError(config.headersTimeoutMs);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Streams are long requests: Node's default 5 min request timeout would
    // cut an hour-long announcement. Stalled bodies are cut by the stream's
    // own progress rule (engine/stream-progress.ts).
    requestTimeout: 0,
    http: httpOptions,
    // app.close() comes after every stream has had its answer: whatever is
    // still connected then is closed, not waited for.
    forceCloseConnections: true,
    clientErrorHandler: answerParserError,
    frameworkErrors: answerError,
    genReqId: () => Math.random().toString(36).slice(2, 10),
    // Ajv checks each route schema against the JSON Schema meta-schema by
    // default, and compiling that meta-schema took about 35 ms of every
    // start (design §8: ≤ 300 ms). The route schemas are constants: the
    // check runs in test/service/route-schemas.test.ts instead. Requests are
    // validated the same either way.
    ajv: { customOptions: { validateSchema: false } },
  });

  app.setErrorHandler(answerError);
  app.addHook('onRequest', requireHostHeader);

  // The probe port answers the probes alone. Decided by the route matched,
  // so that no spelling of a URL reaches anything else through it; a route
  // added later is refused there until it is listed.
  const probes = new ProbeListener((request, response) => app.routing(request, response), httpOptions, answerParserError);
  app.decorate('probes', probes);
  app.addHook('onRequest', async (request) => {
    if (probes.owns(request.raw.socket) && !PROBE_ROUTES.has(request.routeOptions.url ?? '')) {
      throw failure('PROBE_PORT_ONLY', { routes: [...PROBE_ROUTES].join(', '), method: request.method, url: request.url });
    }
  });

  // A body we stopped reading (an error, or audio past the declared data)
  // would otherwise be drained to its end before the connection is reused.
  // While shutting down, no connection is kept for another request.
  app.addHook('onSend', async (request, reply) => {
    if (!request.raw.complete || engine.draining) reply.header('connection', 'close');
  });

  // A client that half-closes after its body (shutdown(SHUT_WR), curl's
  // --data @- from a pipe in some setups) still gets its answer: Node's
  // default ends the socket at the client's FIN and the answer is lost.
  (app.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  app.decorate('connections', new ConnectionGuard(app.server, config.maxConnections));
  // Every body starts small, from the moment its request arrives
  // (engine/body-reader.ts says why).
  app.server.on('request', holdToSmallBuffer);

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(failure('NOT_FOUND', { method: request.method, url: request.url }).toBody()),
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
    const playback = new Playback(engine, {
      idleTimeoutMs: config.streamIdleTimeoutMs, maxSeconds: config.maxStreamSeconds, maxWallSeconds: config.maxStreamWallSeconds,
      timing: { maxAheadS: config.maxAtAheadS, underrun: config.audio.underrun },
    });
    playback.observe(streamTelemetry(new ServiceMetrics(engine)));
    await api.register(streamRoutes, { playback });
    await api.register(controlRoutes, { playback, engine });
    await api.register(eventRoutes);
    await api.register(broadcastRoutes, {
      peers: { list: config.broadcast.peers, dnsName: config.broadcast.peersDns, port: config.port },
      leadMs: config.broadcast.leadMs,
      stallMs: config.broadcast.stallMs,
    });
  });
  return app;
}
