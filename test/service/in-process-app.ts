// The real app in the test's own process, listening on a free loopback
// port: for tests that need its route table, engine or listeners as objects
// while they talk to it over real sockets.
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { loadConfig, type Env } from '../../src/config';
import { AudioEngine } from '../../src/engine/engine';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function startInProcessApp(t: Teardown, env: Env): Promise<{ app: FastifyInstance; engine: AudioEngine; port: number; url: string }> {
  const config = loadConfig({ AUDIO_MODE: 'headless', ...env });
  const logger = pino({ level: 'silent' });
  const engine = new AudioEngine({ audio: config.audio, maxStreams: config.maxStreams, maxQueued: config.maxQueued }, logger);
  await engine.start();
  const app = await buildApp(config, engine, logger);
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(async () => {
    await app.probes.close();
    await app.close();
  });
  const { port } = app.server.address() as AddressInfo;
  return { app, engine, port, url: `http://127.0.0.1:${port}` };
}
