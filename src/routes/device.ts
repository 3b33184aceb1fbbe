// GET /v1/device: what an operator reads when the speaker stays silent,
// with the same diagnostics as `speakerd doctor`.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import { buildReport, type DiagnosticsReport, type PcmOpenAttempt } from '../diagnostics/report';

// The diagnostics read /dev/snd, /proc and cgroup files synchronously (about
// a millisecond): under a flood of this route that was most of the event
// loop. One report serves for half a second, and never past a change of the
// open attempt or the engine's state, which are what it explains.
const REPORT_TTL_MS = 500;

function reportCache(config: Config) {
  let cached: { at: number; attempt: PcmOpenAttempt; state: string; report: DiagnosticsReport } | undefined;
  return (attempt: PcmOpenAttempt, state: string): DiagnosticsReport => {
    const now = Date.now();
    if (!cached || cached.attempt !== attempt || cached.state !== state || now - cached.at >= REPORT_TTL_MS) {
      cached = { at: now, attempt, state, report: buildReport(config, attempt) };
    }
    return cached.report;
  };
}

export default async function deviceRoutes(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  const diagnostics = reportCache(config);
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
      // When frames reach the DAC: the card's drift against the system clock (design §2c).
      clock: stats?.clock ?? { locked: false, driftPpm: null, residualUs: null },
      streams: engine.streams.size,
      diagnostics: diagnostics(engine.openAttempt, engine.state),
    };
  });
}
