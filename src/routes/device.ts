// GET /v1/device: what an operator reads when the speaker stays silent,
// with the same diagnostics as `speakerd doctor`.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import { buildReport } from '../diagnostics/report';

export default async function deviceRoutes(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  app.get('/v1/device', async () => {
    const engine = app.audio;
    if (engine.state === 'starting') return { state: 'starting', mode: null, diagnostics: buildReport(config, engine.openAttempt) };
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
      diagnostics: buildReport(config, engine.openAttempt),
    };
  });
}
