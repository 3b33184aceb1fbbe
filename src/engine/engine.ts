// The audio engine: decides the mode (device or headless), opens the device
// off the event loop, keeps the table of playing streams and admits new ones.
// Routes talk to this, never to the addon directly.
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { SpeakerdError } from '../errors';
import type { PcmOpenAttempt } from '../diagnostics/report';
import type { AudioFormat } from '../formats/audio-format';
import { openClockSink, openDevice, type Device, type DeviceOptions, type NativeError, type Stream } from './native';

export type DeviceMode = 'device' | 'headless';
export type EngineState = 'starting' | 'ready' | 'closed';

/** One stream in the table: what GET /v1/streams lists and DELETE stops. */
export interface StreamRecord {
  readonly id: string;
  readonly name: string | undefined;
  readonly started: Date;
  format: AudioFormat | undefined;
  readonly native: Stream;
  /** Set by DELETE: the POST answers 409. */
  stopped: boolean;
}

/** The options that open the configured PCM: the engine and the doctor open it the same way. */
export function configuredDeviceOptions(audio: Config['audio']): DeviceOptions {
  const { device, alsaConfig, format, rate, channels, periodFrames, periods, underrun, idleMs } = audio;
  return { pcm: device, ...(alsaConfig !== undefined ? { alsaConfig } : {}), format, rate, channels, periodFrames, periods, underrun, idleMs };
}

/** What diagnostics need to know of an open that failed. */
export function failedOpenAttempt(pcm: string, error: unknown): PcmOpenAttempt {
  const cause = error as Partial<NativeError>;
  return {
    pcm,
    attempted: true,
    opened: false,
    error: {
      code: cause.code ?? 'E_UNKNOWN',
      errno: typeof cause.errno === 'number' ? cause.errno : 0,
      message: cause.message ?? String(error),
      alsaMessages: Array.isArray(cause.alsaMessages) ? cause.alsaMessages : [],
    },
    info: null,
  };
}

export class DeviceOpenError extends Error {
  readonly nativeError: NativeError;
  constructor(message: string, nativeError: NativeError) {
    super(message);
    this.name = 'DeviceOpenError';
    this.nativeError = nativeError;
  }
}

export class AudioEngine {
  #state: EngineState = 'starting';
  #mode: DeviceMode | undefined;
  #headlessReason: string | undefined;
  #device: Device | undefined;
  #draining = false;
  #openAttempt: PcmOpenAttempt;
  readonly streams = new Map<string, StreamRecord>();
  readonly #audio: Config['audio'];
  readonly #maxStreams: number;
  readonly #log: Logger;

  constructor(options: { audio: Config['audio']; maxStreams: number }, log: Logger) {
    this.#audio = options.audio;
    this.#maxStreams = options.maxStreams;
    this.#log = log;
    this.#openAttempt = { pcm: options.audio.device, attempted: false, opened: false, error: null, info: null };
  }

  /** What happened to the configured PCM: the diagnostics' starting point. */
  get openAttempt(): PcmOpenAttempt {
    return this.#openAttempt;
  }

  get state(): EngineState {
    return this.#state;
  }

  get mode(): DeviceMode | undefined {
    return this.#mode;
  }

  get headlessReason(): string | undefined {
    return this.#headlessReason;
  }

  /** True while new streams are accepted. */
  get accepting(): boolean {
    return this.#state === 'ready' && !this.#draining;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get device(): Device {
    if (!this.#device) throw new SpeakerdError('E_NOT_READY', 503, 'the audio device is not open yet', 'retry when /readyz answers 200');
    return this.#device;
  }

  /**
   * Opens the device the configuration asks for. Never blocks the event loop:
   * the open runs on libuv's pool. Rejects (DeviceOpenError) only in
   * AUDIO_MODE=device; auto mode falls back to headless with a reason.
   */
  async start(): Promise<void> {
    const { mode } = this.#audio;
    if (mode === 'headless') {
      await this.#openHeadless('AUDIO_MODE=headless');
    } else if (mode === 'device') {
      await this.#openConfiguredDevice();
    } else {
      const absent = this.#playbackNodesAbsent();
      if (absent) {
        await this.#openHeadless(absent);
      } else {
        try {
          await this.#openConfiguredDevice();
        } catch (error) {
          await this.#openHeadless((error as Error).message);
        }
      }
    }
    this.#state = 'ready';
  }

  // A reason why auto mode should not try the card, or undefined.
  #playbackNodesAbsent(): string | undefined {
    const dir = this.#audio.sndDir;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (error) {
      return `${dir} is not there (${(error as NodeJS.ErrnoException).code ?? 'error'}): no sound device is mounted into the container`;
    }
    if (!names.some((name) => /^pcmC\d+D\d+p$/.test(name))) {
      const found = names.length > 0 ? names.sort().join(', ') : 'nothing';
      return `${dir} has no playback node (pcmC*D*p); found ${found}`;
    }
    return undefined;
  }

  async #openConfiguredDevice(): Promise<void> {
    const audio = this.#audio;
    try {
      this.#device = await openDevice(configuredDeviceOptions(audio));
    } catch (error) {
      const cause = error as NativeError;
      this.#openAttempt = failedOpenAttempt(audio.device, error);
      throw new DeviceOpenError(`cannot open ${audio.device}: ${cause.message} (${cause.code}, errno ${cause.errno})`, cause);
    }
    this.#mode = 'device';
    this.#openAttempt = { pcm: audio.device, attempted: true, opened: true, error: null, info: this.#device.info };
    this.#watch(this.#device);
    this.#log.info({ mode: 'device', device: this.#device.info }, 'audio device open');
  }

  async #openHeadless(reason: string): Promise<void> {
    // The same format and gap policy as the card would have had.
    const { pcm: _pcm, alsaConfig: _alsaConfig, ...format } = configuredDeviceOptions(this.#audio);
    this.#device = await openClockSink(format);
    this.#mode = 'headless';
    this.#headlessReason = reason;
    this.#watch(this.#device);
    this.#log.warn({ mode: 'headless', reason, device: this.#device.info }, `playing headless: ${reason}`);
  }

  #watch(device: Device): void {
    device.on('log', (line: string) => this.#log.info({ source: 'playback' }, line));
    device.on('xrun', (count: number) => this.#log.warn({ xruns: count }, 'device xrun'));
    device.on('error', (error: NativeError) => this.#log.error({ code: error.code, errno: error.errno, err: error }, 'audio device lost'));
  }

  /**
   * Takes a place in the stream table and attaches a stream to the device,
   * or refuses with 429/503. Attaching at once, before the body's first
   * byte, lets the wait policy start streams that arrive together together.
   */
  admit(name: string | undefined, gain: number): StreamRecord {
    if (!this.accepting) {
      throw this.#draining
        ? new SpeakerdError('E_SHUTTING_DOWN', 503, 'speakerd is shutting down and takes no new streams', 'send the stream to another instance, or retry after the restart')
        : new SpeakerdError('E_NOT_READY', 503, 'the audio device is still being opened', 'retry when /readyz answers 200');
    }
    if (this.streams.size >= this.#maxStreams) {
      throw new SpeakerdError(
        'E_TOO_MANY_STREAMS',
        429,
        `${this.streams.size} streams are already playing, the most this instance mixes (MAX_STREAMS=${this.#maxStreams})`,
        'retry after the number of seconds in Retry-After, or raise MAX_STREAMS',
      );
    }
    const native = this.device.createStream({ gain });
    const record: StreamRecord = { id: randomUUID(), name, started: new Date(), format: undefined, native, stopped: false };
    this.streams.set(record.id, record);
    return record;
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
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#draining = true;
    await this.#device?.close();
  }
}
