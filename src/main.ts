// Serves: validates the configuration, listens at once, opens the device in
// the background, and shuts down gracefully on SIGTERM and SIGINT (also as
// PID 1, where the kernel gives signals no default action).
import pino, { type Logger } from 'pino';
import { buildApp } from './app';
import { ConfigError, loadConfig, type Config } from './config';
import { checkConfigAgainstAlsa } from './config-check';
import { buildReport } from './diagnostics/report';
import { AudioEngine } from './engine/engine';
import { describeListenError } from './listen-error';
import { shutDown } from './shutdown';
import { traceIds } from './telemetry/log-correlation';
import type { Telemetry } from './telemetry/sdk';

function handleSignals(shutdown: (signal: NodeJS.Signals) => Promise<void>, logger: Logger): void {
  let shuttingDown = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (shuttingDown) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      shuttingDown = true;
      shutdown(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

/** Serves until a signal; `telemetry` was started before this module loaded (cli.ts). */
export async function serve(env: NodeJS.ProcessEnv = process.env, telemetry?: Telemetry): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
    checkConfigAgainstAlsa(config, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`speakerd: invalid configuration: ${error.message}\n`);
    process.exit(2);
  }
  const logger = pino({ level: config.logLevel, base: { service: 'speakerd', pid: process.pid }, mixin: traceIds });
  const engine = new AudioEngine({ audio: config.audio, maxStreams: config.maxStreams, maxQueued: config.maxQueued }, logger);
  const app = await buildApp(config, engine, logger, telemetry);
  const listenOrExit = async (listen: () => Promise<unknown>, port: number, portName: string) => {
    try {
      await listen();
    } catch (error) {
      const message = describeListenError(error, config.host, port, portName);
      if (message === undefined) throw error;
      process.stderr.write(`speakerd: ${message}\n`);
      process.exit(2);
    }
  };
  await listenOrExit(() => app.listen({ port: config.port, host: config.host }), config.port, 'PORT');
  const probePort = config.probePort;
  if (probePort !== undefined) {
    await listenOrExit(async () => logger.info(`probes (only) listening at ${await app.probes.listen(probePort, config.host)}`), probePort, 'PROBE_PORT');
  }
  logger.info({ exports: telemetry?.exports ?? [] }, telemetry ? `telemetry: ${telemetry.exports.join('; ')}` : 'telemetry: off (OTEL_SDK_DISABLED=true)');

  handleSignals((signal) => shutDown({ app, engine, telemetry, graceMs: config.shutdownGraceMs, logger, signal }), logger);

  // The device opens while the server already answers: /livez at once,
  // /healthz and /readyz once this settles.
  // The diagnostics go to the log at start-up, whatever the outcome: they
  // are what an operator reads in `kubectl logs` when the speaker is silent.
  const logDiagnostics = () => {
    const report = buildReport(config, engine.openAttempt);
    const problems = report.findings.filter((f) => f.severity !== 'ok');
    logger[report.ok ? 'info' : 'warn']({ verdict: report.verdict, findings: problems }, `diagnostics: ${report.verdict.code}: ${report.verdict.message}`);
  };
  // Every device failure is logged with the diagnostics; a reopen that keeps
  // failing the same way is logged briefly, so the log is not flooded.
  let lastFailureCode: string | undefined;
  engine.supervisor.on('lost', (error) => {
    logger.error({ error, reopenMinMs: config.audio.reopenMinMs, reopenMaxMs: config.audio.reopenMaxMs }, `audio device lost: ${error.code}: ${error.message}; reopening`);
    lastFailureCode = `${error.code}/${error.errno}`;
    logDiagnostics();
  });
  engine.supervisor.on('open-failed', (error, attempt, retryInMs) => {
    logger.warn({ error, attempt, retryInMs }, `opening the audio device failed (attempt ${attempt}): ${error.code}: ${error.message}`);
    if (`${error.code}/${error.errno}` !== lastFailureCode) logDiagnostics();
    lastFailureCode = `${error.code}/${error.errno}`;
  });
  engine.supervisor.on('lost-for-good', (loss) => {
    logger.error(
      { error: loss.error, since: loss.since, attempts: loss.attempts, lostRestartS: config.audio.lostRestartS },
      `audio device lost for AUDIO_LOST_RESTART_S=${config.audio.lostRestartS} s without a reopen: /livez fails now, so that a restart gets the node's current device nodes`,
    );
  });
  engine.supervisor.on('restored', (info, mode) => {
    logger.info({ device: info, mode }, 'audio device open again: streams play');
    lastFailureCode = undefined;
  });
  engine.start().then(
    () => {
      logDiagnostics();
      logger.info({ mode: engine.mode }, 'ready');
    },
    (error: Error) => {
      logDiagnostics();
      logger.fatal({ err: error }, `AUDIO_MODE=device and the device cannot be opened: ${error.message}`);
      process.exit(1);
    },
  );
}
