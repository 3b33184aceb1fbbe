// Starts OpenTelemetry (@opentelemetry/sdk-node) before the service loads,
// so that the HTTP instrumentation is in place when Fastify's server is made.
//
// Metrics are always collected and read by the Prometheus exporter, which
// speakerd serves on its own port (/metrics) instead of a second listener.
// OTLP over HTTP is added when OTEL_EXPORTER_OTLP_ENDPOINT (or the
// per-signal _TRACES_/_METRICS_ variant) is set, in the encoding that
// OTEL_EXPORTER_OTLP_PROTOCOL names (http/protobuf, the default, or
// http/json). Spans are always recorded, even with no exporter, so that log
// lines can carry their ids. OTEL_SDK_DISABLED=true loads none of it: the
// CLI requires this module only to serve, and only then.
import { diag } from '@opentelemetry/api';
import { ConfigError, type Env } from '../config';
import { OTLPMetricExporter as OTLPMetricExporterJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { defaultResource, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';

/** Routes whose requests are not worth a span: probes and scrapes, every few seconds. */
const UNTRACED_ROUTES = new Set(['/metrics', '/healthz', '/livez', '/readyz']);

export interface Telemetry {
  /** Every metric in the Prometheus text format. */
  renderMetrics(): Promise<string>;
  /** Where spans and metrics go besides /metrics, for the start-up log. */
  readonly exports: string[];
  /** Flushes the OTLP exporters and stops; resolves within timeoutMs whatever happens. */
  shutdown(timeoutMs: number): Promise<void>;
}

function otlpEndpoint(env: Env, signal: 'TRACES' | 'METRICS'): string | undefined {
  return env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`] || env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
}

function otlpProtocol(env: Env, signal: 'TRACES' | 'METRICS'): 'http/json' | 'http/protobuf' {
  const protocol = env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf';
  if (protocol !== 'http/json' && protocol !== 'http/protobuf') {
    throw new ConfigError('OTEL_EXPORTER_OTLP_PROTOCOL', protocol, 'speakerd exports OTLP over HTTP only: use http/protobuf (the default) or http/json');
  }
  return protocol;
}

// Which build runs where, and nothing about the machine it runs on: /metrics
// is open to whatever can reach the port (docs/decisions.md, Observability).
// Node and pod names come from the downward API (k8s/base/daemonset.yaml).
function deploymentAttributes(env: Env, serviceVersion: string): Record<string, string> {
  const attributes: Record<string, string> = { 'service.version': serviceVersion };
  if (env.NODE_NAME) attributes['k8s.node.name'] = env.NODE_NAME;
  if (env.POD_NAME) attributes['k8s.pod.name'] = env.POD_NAME;
  return attributes;
}

// A flood of /metrics must not become a collection per request: under the
// wrk flood of issue 13 that left the event loop no time for /livez. So
// scrapes that arrive while a collection runs share it, and while scrapes
// come faster than any scraper sends them (more than FLOOD_SCRAPES in the
// last second) a rendering up to FLOOD_MAX_AGE_MS old is served again.
// Prometheus (one scrape every few seconds) always gets a fresh one.
const FLOOD_SCRAPES = 10;
const FLOOD_MAX_AGE_MS = 100;

function floodProof(render: () => Promise<string>, now: () => number = Date.now): () => Promise<string> {
  let running: Promise<string> | undefined;
  let last: { at: number; text: string } | undefined;
  let window = { start: 0, scrapes: 0 };
  return () => {
    const at = now();
    if (at - window.start >= 1000) window = { start: at, scrapes: 0 };
    window.scrapes++;
    if (last && window.scrapes > FLOOD_SCRAPES && at - last.at < FLOOD_MAX_AGE_MS) return Promise.resolve(last.text);
    running ??= render()
      .then((text) => {
        last = { at: now(), text };
        return text;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}

export function startTelemetry(env: Env = process.env, serviceVersion: string): Telemetry {
  // The stable HTTP semantic conventions (http.server.request.duration in
  // seconds), unless the operator chose otherwise.
  process.env.OTEL_SEMCONV_STABILITY_OPT_IN ??= 'http';

  const prometheus = new PrometheusExporter({ preventServerStart: true });
  // The exporter's own defaults: no timestamps, target_info and scope info kept.
  const serializer = new PrometheusSerializer();
  const metricReaders: IMetricReader[] = [prometheus];
  const spanProcessors: SpanProcessor[] = [];
  const exports: string[] = ['prometheus on /metrics'];

  const metricsEndpoint = otlpEndpoint(env, 'METRICS');
  if (metricsEndpoint) {
    const protocol = otlpProtocol(env, 'METRICS');
    const exporter = protocol === 'http/json' ? new OTLPMetricExporterJson() : new OTLPMetricExporterProto();
    metricReaders.push(new PeriodicExportingMetricReader({ exporter }));
    exports.push(`metrics over OTLP ${protocol} to ${metricsEndpoint}`);
  }
  const tracesEndpoint = otlpEndpoint(env, 'TRACES');
  if (tracesEndpoint) {
    const protocol = otlpProtocol(env, 'TRACES');
    const exporter = protocol === 'http/json' ? new OTLPTraceExporterJson() : new OTLPTraceExporterProto();
    spanProcessors.push(new BatchSpanProcessor({ exporter }));
    exports.push(`traces over OTLP ${protocol} to ${tracesEndpoint}`);
  }

  // The SDK registers no tracer provider without a span processor, and then
  // spans have no ids for the logs: with no exporter, one that drops them.
  if (spanProcessors.length === 0) spanProcessors.push(new NoopSpanProcessor());

  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || 'speakerd',
    resource: defaultResource().merge(resourceFromAttributes(deploymentAttributes(env, serviceVersion))),
    // Only what the operator sets in OTEL_RESOURCE_ATTRIBUTES: the process,
    // OS and host detectors put the command line, executable path, user,
    // kernel version and host name into target_info on the open /metrics.
    resourceDetectors: [envDetector],
    metricReaders,
    // An explicit list: with none given, the SDK would read
    // OTEL_TRACES_EXPORTER and export to localhost:4318 by default.
    spanProcessors,
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_ROUTES.has((request.url ?? '').split('?')[0]!),
        // speakerd makes no outgoing requests of its own; the OTLP exporters'
        // would otherwise trace themselves.
        ignoreOutgoingRequestHook: () => true,
      }),
    ],
  });
  sdk.start();

  return {
    renderMetrics: floodProof(async () => {
      const { resourceMetrics, errors } = await prometheus.collect();
      if (errors.length > 0) diag.error('metrics collection errors', ...errors);
      return serializer.serialize(resourceMetrics);
    }),
    exports,
    shutdown: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        sdk.shutdown().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
