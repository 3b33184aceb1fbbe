// Runs every probe and assembles one DiagnosticsReport: a verdict on the
// configured PCM, a flat list of findings (each with a code and a hint), and
// the raw sections the findings were drawn from, for the JSON output.
import type { AudioMode, Config } from '../config';
import type { PcmOpenAttempt } from '../engine/device-supervisor';
import { probeCards, type CardsReport } from './cards';
import { errorCode, finding, type Finding } from './finding';
import { probeMemory, type MemoryReport } from './memory';
import { classifyOpenError } from './open-error';
import { DEFAULT_PATHS, type DiagnosticsPaths } from './paths';

export type { PcmOpenAttempt };
import { probeProcessState, type ProcessState } from './process-state';
import { probeSndNodes, type SndDirReport } from './snd-nodes';

/** What happened when the doctor tried the configured PCM. */
export interface DiagnosticsReport {
  /** A playable device was found: the configured PCM opened, outside headless mode. */
  ok: boolean;
  mode: AudioMode;
  pcm: PcmOpenAttempt;
  /** The one finding that says whether, and why not, the PCM plays. Also the first of `findings`. */
  verdict: Finding;
  findings: Finding[];
  snd: SndDirReport | null;
  process: ProcessState | null;
  memory: MemoryReport | null;
  cards: CardsReport | null;
}

export interface ReportOptions {
  /** Overrides of the files the probes read; sndDir defaults to the configured AUDIO_SND_DIR. */
  paths?: Partial<DiagnosticsPaths>;
  /** For the memory budget; defaults to this process's V8 heap limit. */
  heapLimitBytes?: number;
}

function verdictFor(mode: AudioMode, attempt: PcmOpenAttempt, snd: SndDirReport | null, cards: CardsReport | null, process: ProcessState | null): Finding {
  if (mode === 'headless') {
    return finding(
      'E_SND_HEADLESS',
      'warning',
      'AUDIO_MODE=headless: the PCM is not opened and audio plays into the clock sink, so no playable device is in use',
      'unset AUDIO_MODE (auto) or set AUDIO_MODE=device to play on a card, then run the doctor again',
    );
  }
  try {
    return classifyOpenError({
      // Without the node listing the verdict still comes from the errno alone.
      nodes: snd ?? { dir: '(unknown: the snd-nodes probe failed)', present: false, error: 'probe failed', nodes: [] },
      // Auto mode skips the open when no playback node exists: that is an
      // absent device, not a device that opened.
      openError: attempt.error ?? (attempt.opened ? undefined : { code: 'E_ALSA_OPEN', errno: 2, message: `${attempt.pcm} was not opened: no playback device node` }),
      cards: cards?.present ? cards.cards : undefined,
      pcm: attempt.pcm,
      seccomp: process?.seccomp ?? null,
    });
  } catch (error) {
    return finding('E_DIAG_FAILED', 'warning', `classifying the open error failed: ${errorCode(error)}`, 'read the PCM open error in the report', 'open-error');
  }
}

/** Gathers every probe. Never throws: a probe that fails is an E_DIAG_FAILED finding. */
export function buildReport(config: Config, attempt: PcmOpenAttempt, options: ReportOptions = {}): DiagnosticsReport {
  const paths: DiagnosticsPaths = { ...DEFAULT_PATHS, sndDir: config.audio.sndDir, ...options.paths };
  const snd = probeSndNodes(paths);
  const processState = probeProcessState(paths);
  const memory = probeMemory(config, { ...paths, ...(options.heapLimitBytes !== undefined ? { heapLimitBytes: options.heapLimitBytes } : {}) });
  const cards = probeCards(paths);
  const verdict = verdictFor(config.audio.mode, attempt, snd.data, cards.data, processState.data);
  return {
    ok: verdict.code === 'OK',
    mode: config.audio.mode,
    pcm: attempt,
    verdict,
    findings: [verdict, ...snd.findings, ...processState.findings, ...memory.findings, ...cards.findings],
    snd: snd.data,
    process: processState.data,
    memory: memory.data,
    cards: cards.data,
  };
}
