// Keeps one playable device open for the engine, whatever the hardware does:
//   - start-up: the card (device mode), the clock sink (headless), or the card
//     when it opens and the clock sink when it does not (auto);
//   - loss: when the playback thread stops on ENODEV/EBADFD/EIO, the dead PCM
//     is closed and reopened with capped, jittered backoff, in this process;
//   - arrival: in auto mode, playing headless, playback nodes that appear in
//     AUDIO_SND_DIR (or a busy card that frees up) move it to the card.
// Every failed open is kept as the diagnostics' starting point and reported
// through events, so that the log says why at each step.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AudioSettings } from './audio-settings';
import { backoffDelay } from './backoff';
import { DeviceOpener, systemClock, type Clock, type OpenDevice } from './device-opener';
import { openClockSink, openDevice, type ClockSinkOptions, type Device, type DeviceInfo, type DeviceOptions, type NativeError } from './native';
import { PlaybackNodeWatcher, playbackNodesAbsentReason } from './playback-nodes';

export type DeviceMode = 'device' | 'headless';
export type SupervisorState = 'starting' | 'playing' | 'lost' | 'closed';

/** An error as the API and the logs show it. */
export interface ErrorSummary {
  code: string;
  errno: number;
  message: string;
}

/** The device is gone and being reopened. */
export interface DeviceLoss {
  error: ErrorSummary;
  since: Date;
  /** Reopen attempts that failed so far. */
  attempts: number;
  lastAttemptError: ErrorSummary | null;
  nextAttemptAt: Date | null;
  /** When the loss counts as for good (AUDIO_LOST_RESTART_S after `since`); null when it never does. */
  restartAt: Date | null;
  /**
   * Lost for AUDIO_LOST_RESTART_S without a reopen. A running container never
   * gains device nodes it did not get at start (the device plugin and the
   * device cgroup hand them out then), so a card that came back under
   * another index is only reachable after a restart: /livez fails for it.
   */
  forGood: boolean;
}

/** The options that open the configured PCM: the engine and the doctor open it the same way. */
export function configuredDeviceOptions(audio: AudioSettings): DeviceOptions {
  const { device, alsaConfig, format, rate, channels, periodFrames, periods, underrun, idleMs, duckDb, duckRampMs, fadeMs, volumeDb } = audio;
  return {
    pcm: device, ...(alsaConfig !== undefined ? { alsaConfig } : {}), format, rate, channels, periodFrames, periods, underrun, idleMs,
    duckGain: 10 ** (duckDb / 20), duckRampMs, fadeMs, masterGain: 10 ** ((volumeDb ?? 0) / 20),
  };
}

function summarize(error: unknown): ErrorSummary {
  const cause = error as Partial<NativeError>;
  return { code: cause.code ?? 'E_UNKNOWN', errno: typeof cause.errno === 'number' ? cause.errno : 0, message: cause.message ?? String(error) };
}

/** Why the configured PCM is not played, in one line. */
function openFailureReason(pcm: string, error: ErrorSummary): string {
  return `cannot open ${pcm}: ${error.message} (${error.code}, errno ${error.errno})`;
}

/** What became of the last open of the configured PCM: what /v1/device and the doctor report. */
export interface PcmOpenAttempt {
  pcm: string;
  /** False in AUDIO_MODE=headless, where the PCM is never opened. */
  attempted: boolean;
  opened: boolean;
  /** The addon's error (code, errno, message) with the lines alsa-lib logged during the open. */
  error: { code: string; errno: number; message: string; alsaMessages: string[] } | null;
  info: DeviceInfo | null;
}

/** What diagnostics need to know of an open that failed. */
export function failedOpenAttempt(pcm: string, error: unknown): PcmOpenAttempt {
  const cause = error as Partial<NativeError>;
  return { pcm, attempted: true, opened: false, error: { ...summarize(error), alsaMessages: Array.isArray(cause.alsaMessages) ? cause.alsaMessages : [] }, info: null };
}

export class DeviceOpenError extends Error {
  readonly nativeError: NativeError;
  constructor(message: string, nativeError: NativeError) {
    super(message);
    this.name = 'DeviceOpenError';
    this.nativeError = nativeError;
  }
}

export interface DeviceSupervisorEvents {
  /** The playback thread stopped on an error it cannot recover from; reopening starts. */
  lost: [error: ErrorSummary];
  /** An open (reopen, or the move from headless) failed; `attempt` counts from 1. */
  'open-failed': [error: ErrorSummary, attempt: number, retryInMs: number];
  /** A device is open and plays: after a loss, or headless → device. */
  restored: [info: DeviceInfo, mode: DeviceMode];
  /** A device was opened and is used from now on (headless or not, first or again). */
  opened: [device: Device, mode: DeviceMode];
  /** The device in use had an xrun; `count` is its own count since it opened. */
  xrun: [count: number];
  /** Lost for AUDIO_LOST_RESTART_S without a reopen: /livez now fails. */
  'lost-for-good': [loss: DeviceLoss];
}

/** A watch on AUDIO_SND_DIR's playback nodes (PlaybackNodeWatcher). */
export interface NodeWatch {
  start(): void;
  stop(): void;
}

/**
 * What the supervisor works with besides its settings. The defaults are the
 * real ones; a unit test of the state machine passes its own, so that it
 * decides when each open answers, when nodes appear and when time passes.
 */
export interface SupervisorCollaborators {
  openDevice?: OpenDevice;
  openClockSink?: (options: ClockSinkOptions) => Promise<Device>;
  /** Why there is no playback node in the directory, or undefined when there is one. */
  nodesAbsentReason?: (dir: string) => string | undefined;
  watchNodes?: (dir: string, onChange: (nodes: string[]) => void) => NodeWatch;
  clock?: Clock;
  /** The backoff's jitter, in [0, 1). */
  random?: () => number;
}

export class DeviceSupervisor extends EventEmitter<DeviceSupervisorEvents> {
  #state: SupervisorState = 'starting';
  #device: Device | undefined;
  #mode: DeviceMode | undefined;
  #headlessReason: string | undefined;
  #openAttempt: PcmOpenAttempt;
  #loss: DeviceLoss | undefined;
  /** Failed attempts since the last open that worked; drives the backoff. */
  #failures = 0;
  #retryTimer: unknown;
  #forGoodTimer: unknown;
  #attempting = false;
  #watcher: NodeWatch | undefined;
  #xruns = 0;
  /** The software master volume (linear) a device opens with: the master volume's to set (master-volume.ts). */
  masterGain: number;
  readonly #opener: DeviceOpener;
  readonly #audio: AudioSettings;
  readonly #log: Logger;
  readonly #openClockSink: (options: ClockSinkOptions) => Promise<Device>;
  readonly #nodesAbsentReason: (dir: string) => string | undefined;
  readonly #createNodeWatch: (dir: string, onChange: (nodes: string[]) => void) => NodeWatch;
  readonly #clock: Clock;
  readonly #random: () => number;

  constructor(audio: AudioSettings, log: Logger, collaborators: SupervisorCollaborators = {}) {
    super();
    this.#audio = audio;
    this.masterGain = 10 ** ((audio.volumeDb ?? 0) / 20);
    this.#log = log;
    this.#clock = collaborators.clock ?? systemClock;
    this.#random = collaborators.random ?? Math.random;
    this.#openClockSink = collaborators.openClockSink ?? openClockSink;
    this.#nodesAbsentReason = collaborators.nodesAbsentReason ?? playbackNodesAbsentReason;
    this.#createNodeWatch = collaborators.watchNodes ?? ((dir, onChange) => new PlaybackNodeWatcher(dir, onChange));
    this.#opener = new DeviceOpener(audio.openTimeoutMs, collaborators.openDevice ?? openDevice, this.#clock);
    this.#openAttempt = { pcm: audio.device, attempted: false, opened: false, error: null, info: null };
    // Each playing stream's span listens for xruns: up to MAX_STREAMS (64)
    // listeners, past Node's default warning at 10.
    this.setMaxListeners(0);
  }

  /** Device xruns since start, across every device this supervisor opened. */
  get xruns(): number {
    return this.#xruns;
  }

  get state(): SupervisorState {
    return this.#state;
  }

  /** The device new streams go to; undefined while starting, lost or closed. */
  get device(): Device | undefined {
    return this.#state === 'playing' ? this.#device : undefined;
  }

  get mode(): DeviceMode | undefined {
    return this.#mode;
  }

  get headlessReason(): string | undefined {
    return this.#headlessReason;
  }

  get loss(): DeviceLoss | undefined {
    return this.#loss;
  }

  /** What happened to the configured PCM at the last attempt: the diagnostics' starting point. */
  get openAttempt(): PcmOpenAttempt {
    return this.#openAttempt;
  }

  /**
   * Opens what the configuration asks for. Rejects (DeviceOpenError) only in
   * AUDIO_MODE=device; auto mode falls back to headless with a reason.
   */
  async start(): Promise<void> {
    const { mode } = this.#audio;
    if (mode === 'headless') {
      await this.#playHeadless('AUDIO_MODE=headless');
    } else if (mode === 'device') {
      try {
        this.#playOn(await this.#openConfigured());
      } catch (error) {
        throw new DeviceOpenError(openFailureReason(this.#audio.device, summarize(error)), error as NativeError);
      }
    } else {
      const absent = this.#nodesAbsentReason(this.#audio.sndDir);
      let reason = absent;
      if (!absent) {
        try {
          this.#playOn(await this.#openConfigured());
        } catch (error) {
          reason = openFailureReason(this.#audio.device, summarize(error));
        }
      }
      if (reason !== undefined) {
        await this.#playHeadless(reason);
        // Nodes exist but the open failed (EBUSY, a card still settling): retry.
        if (!absent && this.#state !== 'closed') this.#scheduleAttempt();
      }
    }
    if (this.#state === 'closed') {
      // close() ran while this open was in flight and found no device to close.
      const device = this.#device;
      this.#device = undefined;
      await device?.close();
      return;
    }
    this.#state = 'playing';
    this.#watchNodes();
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#clock.clearTimeout(this.#retryTimer);
    this.#clock.clearTimeout(this.#forGoodTimer);
    this.#watcher?.stop();
    const device = this.#device;
    this.#device = undefined;
    await device?.close();
  }

  async #openConfigured(): Promise<Device> {
    try {
      const device = await this.#opener.open({ ...configuredDeviceOptions(this.#audio), masterGain: this.masterGain });
      this.#openAttempt = { pcm: this.#audio.device, attempted: true, opened: true, error: null, info: device.info };
      return device;
    } catch (error) {
      this.#openAttempt = failedOpenAttempt(this.#audio.device, error);
      throw error;
    }
  }

  async #playHeadless(reason: string): Promise<void> {
    // The same format and gap policy as the card would have had.
    const { pcm: _pcm, alsaConfig: _alsaConfig, ...format } = configuredDeviceOptions(this.#audio);
    const device = await this.#openClockSink({ ...format, masterGain: this.masterGain, ppm: this.#audio.clockPpm, ...(this.#audio.clockTimeline ? { timeline: this.#audio.clockTimeline } : {}) });
    this.#headlessReason = reason;
    this.#use(device, 'headless');
    this.#log.warn({ mode: 'headless', reason, device: device.info }, `playing headless: ${reason}`);
  }

  #playOn(device: Device): void {
    this.#headlessReason = undefined;
    this.#use(device, 'device');
    this.#log.info({ mode: 'device', device: device.info }, 'audio device open');
  }

  #use(device: Device, mode: DeviceMode): void {
    this.#device = device;
    this.#mode = mode;
    device.on('log', (line: string) => this.#log.info({ source: 'playback' }, line));
    // The device counts its own xruns from its open; the total runs across reopens.
    let seen = 0;
    device.on('xrun', (count: number) => {
      this.#xruns += count - seen;
      seen = count;
      this.#log.warn({ xruns: count }, 'device xrun');
      this.emit('xrun', count);
    });
    device.on('error', (error: NativeError) => this.#onDeviceError(device, error));
    this.emit('opened', device, mode);
  }

  #onDeviceError(device: Device, error: NativeError): void {
    if (device !== this.#device || this.#state !== 'playing') return;
    const summary = summarize(error);
    this.#state = 'lost';
    const since = new Date(this.#clock.now());
    const restartS = this.#audio.lostRestartS;
    const loss: DeviceLoss = { error: summary, since, attempts: 0, lastAttemptError: null, nextAttemptAt: null, restartAt: restartS > 0 ? new Date(since.getTime() + restartS * 1000) : null, forGood: false };
    this.#loss = loss;
    if (restartS > 0) {
      this.#forGoodTimer = this.#clock.setTimeout(() => {
        loss.forGood = true;
        this.emit('lost-for-good', loss);
      }, restartS * 1000);
    }
    this.#openAttempt = failedOpenAttempt(this.#audio.device, error);
    this.#failures = 0;
    // The thread has already retired the streams (503 E_DEVICE_LOST); what
    // is left is the dead PCM's descriptor.
    this.#device = undefined;
    device.close().catch((closeError: unknown) => this.#log.warn({ err: closeError }, 'closing the lost device failed'));
    this.emit('lost', summary);
    this.#scheduleAttempt();
  }

  // In auto and device mode: nodes appearing are worth an attempt at once,
  // whether the card was lost or never opened.
  #watchNodes(): void {
    if (this.#audio.mode === 'headless') return;
    this.#watcher = this.#createNodeWatch(this.#audio.sndDir, (nodes) => {
      if (nodes.length > 0 && this.#wantsDevice()) {
        this.#log.info({ nodes, dir: this.#audio.sndDir }, 'playback nodes appeared: trying the device');
        this.#failures = 0;
        this.#attemptNow();
      }
    });
    this.#watcher.start();
  }

  #wantsDevice(): boolean {
    return this.#state === 'lost' || (this.#state === 'playing' && this.#mode === 'headless' && this.#audio.mode === 'auto');
  }

  /** Returns the delay until the next attempt. */
  #scheduleAttempt(): number {
    this.#clock.clearTimeout(this.#retryTimer);
    const delay = backoffDelay(this.#failures + 1, { minMs: this.#audio.reopenMinMs, maxMs: this.#audio.reopenMaxMs }, this.#random);
    if (this.#loss) this.#loss.nextAttemptAt = new Date(this.#clock.now() + delay);
    this.#retryTimer = this.#clock.setTimeout(() => this.#attemptNow(), delay);
    return delay;
  }

  #attemptNow(): void {
    this.#clock.clearTimeout(this.#retryTimer);
    if (this.#attempting) return;
    this.#attempting = true;
    this.#attempt().finally(() => {
      this.#attempting = false;
    });
  }

  // One try at the configured device; on failure the next is scheduled.
  async #attempt(): Promise<void> {
    if (!this.#wantsDevice()) return;
    // Headless for want of nodes: the watcher calls again when they come.
    if (this.#state === 'playing' && this.#nodesAbsentReason(this.#audio.sndDir)) return;
    // A stuck open still holds its thread: wait for it, never pile up.
    if (this.#opener.stuck) {
      await this.#opener.settled();
      if (!this.#wantsDevice()) return;
    }
    let device: Device;
    try {
      device = await this.#openConfigured();
    } catch (error) {
      if (!this.#wantsDevice()) return;
      const summary = summarize(error);
      this.#failures += 1;
      if (this.#loss) {
        this.#loss.attempts = this.#failures;
        this.#loss.lastAttemptError = summary;
        // The loss stays the diagnosis; the reopen's error is part of it.
        const { error: lost } = this.#loss;
        this.#openAttempt = failedOpenAttempt(this.#audio.device, {
          ...lost,
          message: `${lost.message}; reopen attempt ${this.#failures} failed: ${summary.message} (${summary.code}, errno ${summary.errno})`,
          alsaMessages: this.#openAttempt.error?.alsaMessages ?? [],
        });
      } else {
        this.#headlessReason = openFailureReason(this.#audio.device, summary);
      }
      this.emit('open-failed', summary, this.#failures, this.#scheduleAttempt());
      return;
    }
    if (!this.#wantsDevice()) {
      await device.close();
      return;
    }
    const previous = this.#device;
    this.#loss = undefined;
    this.#clock.clearTimeout(this.#forGoodTimer);
    this.#failures = 0;
    this.#playOn(device);
    this.#state = 'playing';
    // Headless → device: streams already on the clock sink play out there,
    // and the sink closes once they are done.
    if (previous) this.#retire(previous);
    this.emit('restored', device.info, 'device');
  }

  #retire(device: Device): void {
    const close = () => {
      device.close().catch((error: unknown) => this.#log.warn({ err: error }, 'closing the clock sink failed'));
    };
    if (device.stats().streams === 0) {
      close();
    } else {
      device.once('idle', close);
    }
  }
}
