// GET /metrics: every metric in the Prometheus text format, on the service's
// own port, so a pod needs one port and one NetworkPolicy rule. Open like
// the probes (AUTH_TOKEN guards the /v1 routes only); the NetworkPolicy
// limits who reaches it, and it says nothing about the process or the host
// (telemetry/sdk.ts).
import type { FastifyInstance } from 'fastify';
import { failure } from '../error-table';
import type { Telemetry } from '../telemetry/sdk';

// Prometheus's text exposition format, version 0.0.4.
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export default async function metricsRoutes(app: FastifyInstance, options: { telemetry: Telemetry | undefined }): Promise<void> {
  const { telemetry } = options;
  // Scrapes are not logged, like the probes: Prometheus sends one every few seconds.
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    if (!telemetry) {
      throw failure('METRICS_DISABLED');
    }
    return reply.type(CONTENT_TYPE).send(await telemetry.renderMetrics());
  });
}
