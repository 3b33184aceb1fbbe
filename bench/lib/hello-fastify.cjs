// The start-up bench's peer: the smallest Fastify service with a /healthz,
// from the project's own node_modules, logging like speakerd (pino JSON).
const app = require('fastify')({ logger: true });
app.get('/healthz', async () => ({ status: 'ok' }));
app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
