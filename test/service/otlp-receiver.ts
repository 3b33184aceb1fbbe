// An OTLP/HTTP receiver on a local port: it takes what an exporter POSTs to
// /v1/traces and /v1/metrics, decodes JSON bodies (OTLP http/json), and keeps
// protobuf bodies as bytes. Answers 200 with an empty success.
import { createServer, type Server } from 'node:http';

export interface Received {
  path: string;
  contentType: string;
  body: Buffer;
  json: any;
}

export interface OtlpReceiver {
  url: string;
  received: Received[];
  /** Every span in the JSON trace exports so far, flattened, with its resource's service.name. */
  spans(): any[];
  /** Every metric data point of `name` in the JSON metric exports so far. */
  points(name: string): any[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = request.headers['content-type'] ?? '';
      received.push({ path: request.url ?? '', contentType, body, json: contentType.includes('json') ? JSON.parse(body.toString('utf8')) : undefined });
      response.writeHead(200, { 'content-type': contentType.includes('json') ? 'application/json' : 'application/x-protobuf' });
      response.end(contentType.includes('json') ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const jsonOf = (path: string) => received.filter((r) => r.path === path && r.json).map((r) => r.json);
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    spans: () =>
      jsonOf('/v1/traces').flatMap((body) =>
        body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((span: any) => ({ ...span, scope: ss.scope?.name, resource: rs.resource })))),
      ),
    points: (name) =>
      jsonOf('/v1/metrics').flatMap((body) =>
        body.resourceMetrics.flatMap((rm: any) =>
          rm.scopeMetrics.flatMap((sm: any) => sm.metrics.filter((m: any) => m.name === name).flatMap((m: any) => (m.sum ?? m.gauge ?? m.histogram).dataPoints)),
        ),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An OTLP attribute list as a plain object. */
export function attributes(list: { key: string; value: Record<string, unknown> }[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => {
    const [kind, v] = Object.entries(value)[0]!;
    return [key, kind === 'intValue' ? Number(v) : v];
  }));
}
