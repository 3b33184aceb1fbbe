// The check that the service skips at start-up (src/app.ts: Ajv's
// validateSchema is off, to save ~35 ms): every route schema is valid JSON
// Schema. Each plugin in src/routes/ is registered on a Fastify with its
// default Ajv, which rejects a schema that fails the meta-schema when the
// routes are compiled (ready()).
import t from 'tap';
import Fastify, { type FastifyPluginAsync } from 'fastify';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';

const routesDir = path.resolve(__dirname, '../../src/routes');

// What any route plugin may ask for; each takes its own part.
const pluginOptions = { config: loadConfig({}), telemetry: undefined, maxStreamSeconds: 60, streamIdleTimeoutMs: 1000, metrics: {} };

t.test('every route schema passes Ajv\'s meta-schema check', async (t) => {
  const app = Fastify();
  const withSchema: string[] = [];
  app.addHook('onRoute', (route) => {
    if (route.schema) withSchema.push(`${route.method} ${route.url}`);
  });
  for (const file of readdirSync(routesDir).filter((name) => name.endsWith('.ts'))) {
    const plugin = (require(path.join(routesDir, file)) as { default: FastifyPluginAsync<object> }).default;
    await app.register(plugin, pluginOptions);
  }
  await t.resolves(app.ready(), 'the schemas compile with the meta-schema check on');
  t.ok(withSchema.length >= 3, `routes with a schema: ${withSchema.join(', ')}`);
  await app.close();
});

t.test('the default Ajv does reject a schema that breaks the meta-schema', async (t) => {
  const app = Fastify();
  app.get('/', { schema: { querystring: { type: 'object', properties: { gain: { type: 'number', minimum: 'low' } } } } }, async () => ({}));
  await t.rejects(app.ready(), /schema is invalid/);
  await app.close();
});
