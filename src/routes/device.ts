// GET /v1/device: what an operator reads when the speaker stays silent.
import type { FastifyInstance } from 'fastify';

export default async function deviceRoutes(app: FastifyInstance): Promise<void> {
  app.get('/v1/device', async () => {
    const engine = app.audio;
    if (engine.state === 'starting') return { state: 'starting', mode: null };
    const device = engine.device;
    const stats = device.stats();
    return {
      state: engine.state,
      mode: engine.mode,
      headlessReason: engine.headlessReason ?? null,
      pcm: device.info.pcm,
      format: device.info,
      xruns: stats.xruns,
      running: stats.running,
      realtime: stats.realtime,
      streams: stats.streams,
    };
  });
}
