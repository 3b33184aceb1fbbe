// The audio engine: the table of playing streams and the rules for admitting
// new ones, over whatever device the supervisor keeps open. Routes talk to
// this, never to the addon directly.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AudioSettings } from './audio-settings';
import type { PcmOpenAttempt } from './device-supervisor';
import { failure } from '../error-table';
import type { SpeakerdError } from '../errors';
import type { AudioFormat } from '../formats/audio-format';
import { DeviceSupervisor, type DeviceLoss, type DeviceMode } from './device-supervisor';
import type { Device, DeviceInfo, NativeError, Stream, StreamResult } from './native';

export { configuredDeviceOptions, failedOpenAttempt, DeviceOpenError, type DeviceMode } from './device-supervisor';

export type EngineState = 'starting' | 'ready' | 'lost' | 'closed';

/** One stream in the table: what GET /v1/streams lists and DELETE stops. */
export interface StreamRecord {
  readonly id: string;
  readonly name: string | undefined;
  readonly started: Date;
  format: AudioFormat | undefined;
  readonly native: Stream;
  /** The device the stream plays on, and its mode: a later swap does not move it. */
  readonly device: DeviceInfo;
  readonly mode: DeviceMode;
  /** Set by DELETE: the POST answers 409. */
  stopped: boolean;
  /** CLOCK_MONOTONIC ns (process.hrtime) when the body's first byte arrived; 0 before. */
  firstByteNs: number;
}

function deviceLostError(loss: DeviceLoss): SpeakerdError {
  return failure('DEVICE_LOST', { since: loss.since, cause: loss.error, attempts: loss.attempts, nextAttemptAt: loss.nextAttemptAt, now: Date.now() });
}

/** Frames and underruns of every stream so far, the playing ones included. */
export interface PlayedTotals {
  frames: number;
  underruns: number;
}

export class AudioEngine {
  #closed = false;
  #draining = false;
  /**
   * Streams attached and not yet done. Not the stream table: a released
   * stream is aborted but plays on until the thread retires it, and its
   * frames must be counted until then, so that the totals never go back.
   */
  readonly #unfinished = new Set<Stream>();
  readonly #finished: PlayedTotals = { frames: 0, underruns: 0 };
  readonly streams = new Map<string, StreamRecord>();
  readonly supervisor: DeviceSupervisor;
  readonly #maxStreams: number;

  constructor(options: { audio: AudioSettings; maxStreams: number }, log: Logger) {
    this.#maxStreams = options.maxStreams;
    this.supervisor = new DeviceSupervisor(options.audio, log);
  }

  get state(): EngineState {
    if (this.#closed) return 'closed';
    const state = this.supervisor.state;
    return state === 'playing' ? 'ready' : state;
  }

  get mode(): DeviceMode | undefined {
    return this.supervisor.mode;
  }

  get headlessReason(): string | undefined {
    return this.supervisor.headlessReason;
  }

  /** Set while the device is lost and being reopened. */
  get loss(): DeviceLoss | undefined {
    return this.supervisor.loss;
  }

  /** What happened to the configured PCM: the diagnostics' starting point. */
  get openAttempt(): PcmOpenAttempt {
    return this.supervisor.openAttempt;
  }

  /** The device new streams go to, if there is one now. */
  get device(): Device | undefined {
    return this.supervisor.device;
  }

  /** True while new streams are accepted. */
  get accepting(): boolean {
    return this.state === 'ready' && !this.#draining;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Opens the device off the event loop. Rejects (DeviceOpenError) only in AUDIO_MODE=device. */
  start(): Promise<void> {
    return this.supervisor.start();
  }

  /**
   * Takes a place in the stream table and attaches a stream to the device,
   * or refuses with 429/503. Attaching at once, before the body's first
   * byte, lets the wait policy start streams that arrive together together.
   */
  admit(name: string | undefined, gain: number): StreamRecord {
    if (this.#draining || this.#closed) {
      throw failure('SHUTTING_DOWN');
    }
    const loss = this.supervisor.loss;
    if (loss) throw deviceLostError(loss);
    const device = this.supervisor.device;
    if (!device) throw failure('NOT_READY');
    if (this.streams.size >= this.#maxStreams) {
      throw failure('TOO_MANY_STREAMS', { playing: this.streams.size, maxStreams: this.#maxStreams });
    }
    let native: Stream;
    try {
      native = device.createStream({ gain });
    } catch (error) {
      // The playback thread failed a moment ago and its event is on the way.
      const cause = error as NativeError;
      if (cause.code !== 'E_DEVICE_LOST' && cause.code !== 'E_ALSA_IO') throw error;
      throw failure('DEVICE_JUST_LOST', { cause });
    }
    this.#unfinished.add(native);
    native.once('done', (result: StreamResult) => {
      this.#unfinished.delete(native);
      this.#finished.frames += result.frames;
      this.#finished.underruns += result.underruns;
    });
    const mode = this.supervisor.mode ?? 'headless';
    const record: StreamRecord = { id: randomUUID(), name, started: new Date(), format: undefined, native, device: device.info, mode, stopped: false, firstByteNs: 0 };
    this.streams.set(record.id, record);
    return record;
  }

  /** Read from the native counters on each call: nothing is added to the playback path. */
  playedTotals(): PlayedTotals {
    const totals = { ...this.#finished };
    for (const stream of this.#unfinished) {
      const stats = stream.stats();
      totals.frames += stats.framesPlayed;
      totals.underruns += stats.underruns;
    }
    return totals;
  }

  /** Fill (0 to 1) of the emptiest and the fullest ring among the streams; 0 and 0 when none plays. */
  ringFill(): { min: number; max: number } {
    let min = Infinity;
    let max = 0;
    for (const record of this.streams.values()) {
      const stats = record.native.stats();
      const fill = stats.capacityFrames > 0 ? stats.bufferedFrames / stats.capacityFrames : 0;
      min = Math.min(min, fill);
      max = Math.max(max, fill);
    }
    return { min: min === Infinity ? 0 : min, max };
  }

  /** Device xruns across reopens. */
  get xruns(): number {
    return this.supervisor.xruns;
  }

  /** Frees a stream's place; a stream that has not ended is aborted, so nothing is left attached. */
  release(record: StreamRecord): void {
    record.native.abort();
    this.streams.delete(record.id);
  }

  /** Stops one stream (DELETE): its POST answers 409. */
  stop(id: string): boolean {
    const record = this.streams.get(id);
    if (!record) return false;
    record.stopped = true;
    record.native.abort();
    return true;
  }

  /** Shutdown, first step: refuse new streams, let the running ones go on. */
  drain(): void {
    this.#draining = true;
  }

  /** Cuts every stream still playing (the grace period is over). */
  cutAll(): void {
    for (const record of this.streams.values()) record.native.abort();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#draining = true;
    await this.supervisor.close();
  }
}
