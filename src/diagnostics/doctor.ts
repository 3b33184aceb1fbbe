// `speakerd doctor`: loads the configuration as serve does, tries the
// configured PCM the way the engine would open it, and reports why it plays or
// why not. Exit codes: 0 playable, 1 not playable (headless included), 2 an
// invalid configuration (as serve).
import { ConfigError, loadConfig, type Config } from '../config';
import { checkConfigAgainstAlsa } from '../config-check';
import { DeviceOpener } from '../engine/device-opener';
import { configuredDeviceOptions, failedOpenAttempt } from '../engine/device-supervisor';
import { renderReport } from './render';
import { buildReport, type DiagnosticsReport, type PcmOpenAttempt, type ReportOptions } from './report';

export interface DoctorOptions extends ReportOptions {
  json?: boolean;
}

export interface DoctorResult {
  exitCode: 0 | 1 | 2;
  /** For stdout: the rendered report or its JSON. */
  output: string;
  /** For stderr: the configuration error, when there is one. */
  errorOutput: string;
  report: DiagnosticsReport | null;
}

// Opens with the configured format, as the engine does, so that a card that
// refuses the format fails here too; then closes at once. No SCHED_FIFO: the
// doctor plays nothing and should not log about priorities.
async function tryConfiguredPcm(audio: Config['audio']): Promise<PcmOpenAttempt> {
  const attempt: PcmOpenAttempt = { pcm: audio.device, attempted: audio.mode !== 'headless', opened: false, error: null, info: null };
  if (!attempt.attempted) return attempt;
  try {
    const device = await new DeviceOpener(audio.openTimeoutMs).open({ ...configuredDeviceOptions(audio), realtime: false });
    attempt.opened = true;
    attempt.info = device.info;
    await device.close();
  } catch (error) {
    return failedOpenAttempt(audio.device, error);
  }
  return attempt;
}

/** Runs the doctor against `env` (the configuration source, normally process.env). Never throws on a failing probe. */
export async function runDoctor(env: NodeJS.ProcessEnv = process.env, options: DoctorOptions = {}): Promise<DoctorResult> {
  let config: Config;
  try {
    config = loadConfig(env);
    checkConfigAgainstAlsa(config, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { exitCode: 2, output: '', errorOutput: `speakerd: invalid configuration: ${error.message}\n`, report: null };
  }
  const attempt = await tryConfiguredPcm(config.audio);
  const report = buildReport(config, attempt, options);
  const output = options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report);
  return { exitCode: report.ok ? 0 : 1, output, errorOutput: '', report };
}
