// GET /metrics: every metric in the Prometheus text format, on the service's
// own port, so a pod needs one port and one NetworkPolicy rule. Open like
// the probes (AUTH_TOKEN guards /v1/* only); the NetworkPolicy limits who
// reaches it.
import type { FastifyInstance } from 'fastify';
import { SpeakerdError } from '../errors';
import type { Telemetry } from '../telemetry/sdk';

export default async function metricsRoutes(app: FastifyInstance, options: { telemetry: Telemetry | undefined }): Promise<void> {
  const { telemetry } = options;
  app.get('/metrics', async (request, reply) => {
    if (!telemetry) {
      throw new SpeakerdError('E_METRICS_DISABLED', 404, 'metrics are off: OTEL_SDK_DISABLED=true', 'unset OTEL_SDK_DISABLED to serve /metrics');
    }
    // The exporter writes the response itself.
    reply.hijack();
    telemetry.serveMetrics(request.raw, reply.raw);
  });
}
