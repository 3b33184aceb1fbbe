// GET /v1/device: what an operator reads when the speaker stays silent,
// with the same diagnostics as `speakerd doctor`.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import { buildReport } from '../diagnostics/report';

export default async function deviceRoutes(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  app.get('/v1/device', async () => {
    const engine = app.audio;
    const device = engine.device;
    const stats = device?.stats();
    const loss = engine.loss;
    return {
      state: engine.state,
      mode: engine.mode ?? null,
      headlessReason: engine.headlessReason ?? null,
      lost: loss
        ? {
            error: loss.error,
            since: loss.since.toISOString(),
            attempts: loss.attempts,
            lastAttemptError: loss.lastAttemptError,
            nextAttemptAt: loss.nextAttemptAt?.toISOString() ?? null,
            restartAt: loss.restartAt?.toISOString() ?? null,
            forGood: loss.forGood,
          }
        : null,
      pcm: device?.info.pcm ?? config.audio.device,
      format: device?.info ?? null,
      xruns: stats?.xruns ?? null,
      running: stats?.running ?? false,
      realtime: stats?.realtime ?? null,
      streams: engine.streams.size,
      diagnostics: buildReport(config, engine.openAttempt),
    };
  });
}
