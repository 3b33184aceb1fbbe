// The hostile bench's peer: Fastify with its default options (no logger) and
// routes of the same purpose as speakerd's, each doing the least its purpose
// needs. Under the same attack, it shows what any Fastify service on this
// machine pays before it does any work of its own.
import Fastify from 'fastify';

/** About 10 KB of Prometheus text: the size of a modest service's /metrics, served from memory. */
function metricsText() {
  const lines = [];
  for (let i = 0; lines.join('\n').length < 10_000; i++) {
    lines.push(`# HELP bench_metric_${i} A fixed sample metric.`, `# TYPE bench_metric_${i} counter`);
    for (const route of ['/livez', '/metrics', '/v1/device', '/v1/streams']) lines.push(`bench_metric_${i}{route="${route}"} ${i * 1000 + route.length}`);
  }
  return `${lines.join('\n')}\n`;
}

const METRICS = metricsText();
const app = Fastify();

// Passes the body through as a stream, as speakerd's audio parser does; the route reads it.
app.addContentTypeParser('audio/wav', (_request, payload, done) => done(null, payload));

app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/livez', async () => ({ status: 'alive' }));
app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(METRICS));
app.get('/v1/device', async () => ({ state: 'ready', mode: 'headless', pcm: 'peer', format: { rate: 48000, channels: 2, format: 'S16_LE' }, xruns: 0, running: true, streams: 0 }));
app.post('/v1/streams', async (request) => {
  let bytes = 0;
  for await (const chunk of request.body) bytes += chunk.length;
  return { bytes };
});

const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
// The line bench/lib/service.mjs waits for, as Fastify's logger would print it.
process.stdout.write(`${JSON.stringify({ msg: `Server listening at ${address}` })}\n`);
