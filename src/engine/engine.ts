// The audio engine: the table of playing streams and the rules for admitting
// new ones, over whatever device the supervisor keeps open. Routes talk to
// this, never to the addon directly.
import type { StreamTiming } from './stream-timing';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AudioSettings } from './audio-settings';
import type { PcmOpenAttempt } from './device-supervisor';
import { failure } from '../error-table';
import type { SpeakerdError } from '../errors';
import type { AudioFormat } from '../formats/audio-format';
import { returnFreeHeap } from './addon';
import { DeviceSupervisor, type DeviceLoss, type DeviceMode } from './device-supervisor';
import { EventLog } from './event-log';
import { MasterVolume } from './master-volume';
import type { Device, DeviceInfo, NativeError, Priority, Stream, StreamResult } from './native';
import { StreamQueues, type QueuedStream } from './stream-queues';

export { configuredDeviceOptions, failedOpenAttempt, DeviceOpenError, type DeviceMode } from './device-supervisor';
export type { QueuedStream, Priority };
export type { VolumeState, VolumeChange } from './master-volume';
export type { ServiceEvent, Replay } from './event-log';

/** Events kept for GET /v1/events' Last-Event-ID replay. */
const EVENT_LOG_CAPACITY = 1024;

export type EngineState = 'starting' | 'ready' | 'lost' | 'closed';

/** One stream in the table: what GET /v1/streams lists and DELETE stops. */
export interface StreamRecord {
  readonly id: string;
  readonly name: string | undefined;
  readonly priority: Priority;
  readonly queue: string | undefined;
  /** The client's gain in dB, as last set (?gain=, PATCH). */
  gainDb: number;
  /** When it was admitted: earlier than `started` when it waited in its queue. */
  readonly admitted: Date;
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
  /** A timed stream's ?at= and ?late= (design §2c). */
  readonly timing: StreamTiming | undefined;
}

function deviceLostError(loss: DeviceLoss): SpeakerdError {
  return failure('DEVICE_LOST', { since: loss.since, cause: loss.error, attempts: loss.attempts, nextAttemptAt: loss.nextAttemptAt, now: Date.now() });
}

/** What a POST asks for: its label, level, class and queue. */
export interface AdmitRequest {
  name: string | undefined;
  gainDb: number;
  priority: Priority;
  queue: string | undefined;
  /** A timed stream: it starts on the device frame that plays at this time. */
  timing?: StreamTiming;
}

/** An admitted stream: attached now, or waiting in its queue until `turn` gives it its record. */
export type Admission = { record: StreamRecord; turn?: undefined; id: string } | { record?: undefined; turn: Promise<StreamRecord>; id: string };

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
  /** What happened, for GET /v1/events. */
  readonly events = new EventLog(EVENT_LOG_CAPACITY);
  readonly #queues: StreamQueues<StreamRecord>;
  readonly #maxStreams: number;
  readonly #log: Logger;

  constructor(options: { audio: AudioSettings; maxStreams: number; maxQueued: number }, log: Logger) {
    this.#maxStreams = options.maxStreams;
    this.#log = log;
    this.#queues = new StreamQueues(options.maxQueued);
    this.supervisor = new DeviceSupervisor(options.audio, log);
    this.volume = new MasterVolume(this.supervisor, options.audio, this.events, log);
    this.#publishDeviceEvents();
  }

  /** The master volume: the card's mixer element, or the software mixer. */
  readonly volume: MasterVolume;

  // The device's changes of state, for GET /v1/events.
  #publishDeviceEvents(): void {
    const supervisor = this.supervisor;
    supervisor.on('opened', (device, mode) => this.events.publish('device', { state: 'ready', mode, pcm: device.info.pcm, reason: supervisor.headlessReason ?? null }));
    supervisor.on('lost', (error) => this.events.publish('device', { state: 'lost', error }));
    supervisor.on('open-failed', (error, attempt, retryInMs) => this.events.publish('device', { state: 'lost', error, attempt, retryInMs }));
    supervisor.on('lost-for-good', (loss) => this.events.publish('device', { state: 'lost', forGood: true, since: loss.since.toISOString() }));
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
   * Admits a stream, or refuses it with 429/503. A stream attaches to the
   * device at once, before its body's first byte, so that the wait policy
   * starts streams that arrive together together. A stream of a queue that
   * is busy waits its turn instead (`turn`), holding a place among
   * MAX_QUEUED rather than MAX_STREAMS.
   */
  admit(request: AdmitRequest): Admission {
    const device = this.#usableDevice();
    const id = randomUUID();
    const admitted = new Date();
    if (request.queue !== undefined && this.#queues.mustWait(request.queue)) {
      const queue = request.queue;
      const turn = this.#queues.wait({ id, name: request.name, priority: request.priority, queue, gainDb: request.gainDb, admitted });
      this.events.publish('queued', { id, name: request.name ?? null, queue, position: this.#queues.waitingIn(queue).length });
      return { id, turn };
    }
    // A queue holds one place, whichever of its streams plays.
    if (request.queue === undefined || !this.#queues.holdsPlace(request.queue)) {
      const places = this.#placesTaken();
      if (places >= this.#maxStreams) throw failure('TOO_MANY_STREAMS', { playing: places, maxStreams: this.#maxStreams });
    }
    const record = this.#attach(device, id, admitted, request);
    return { id, record };
  }

  /** The stream's body has ended: the next of its queue may read its own. */
  bodyEnded(record: StreamRecord): void {
    if (record.queue !== undefined) this.#passTurn(record);
  }

  #usableDevice(): Device {
    if (this.#draining || this.#closed) {
      throw failure('SHUTTING_DOWN');
    }
    return this.#playingDevice();
  }

  // The device a stream can attach to now. While draining too: a queued
  // stream was admitted before, and plays in its turn within the grace period.
  #playingDevice(): Device {
    if (this.#closed) throw failure('SHUTTING_DOWN');
    const loss = this.supervisor.loss;
    if (loss) throw deviceLostError(loss);
    const device = this.supervisor.device;
    if (!device) throw failure('NOT_READY');
    return device;
  }

  // Places taken: a stream out of a queue takes one, a queue takes one
  // while any of its streams is in the table.
  #placesTaken(): number {
    const queues = new Set<string>();
    let places = 0;
    for (const record of this.streams.values()) {
      if (record.queue === undefined) places++;
      else queues.add(record.queue);
    }
    return places + queues.size;
  }

  #attach(device: Device, id: string, admitted: Date, request: AdmitRequest): StreamRecord {
    const follows = request.queue === undefined ? undefined : this.#queues.tail(request.queue);
    let native: Stream;
    try {
      const timing = request.timing;
      native = device.createStream({ gain: 10 ** (request.gainDb / 20), priority: request.priority, ...(follows ? { follows } : {}), ...(timing ? { at: timing.at, late: timing.late } : {}) });
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
      if (request.queue !== undefined) this.#queues.finished(request.queue);
    });
    const mode = this.supervisor.mode ?? 'headless';
    const record: StreamRecord = {
      id, name: request.name, priority: request.priority, queue: request.queue, gainDb: request.gainDb, admitted, started: new Date(),
      format: undefined, native, device: device.info, mode, stopped: false, firstByteNs: 0, timing: request.timing,
    };
    this.streams.set(record.id, record);
    if (request.queue !== undefined) this.#queues.started(request.queue, id, native);
    return record;
  }

  #passTurn(record: StreamRecord): void {
    this.#queues.passTurn(record.queue!, record.id, (next) => {
      const value = this.#attach(this.#playingDevice(), next.id, next.admitted, next);
      return { value, stream: value.native };
    });
  }

  /** Streams admitted and not yet answered: in the table, or waiting in a queue. */
  get pending(): number {
    return this.streams.size + this.#queues.waitingCount;
  }

  /** Streams waiting in their queues. */
  queued(): QueuedStream[] {
    return this.#queues.waiting();
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

  /** The largest error among the timed streams' clock locks now, µs (how far off the wall clock the frames being written will play); 0 when none plays. */
  syncErrorUs(): number {
    let worst = 0;
    for (const record of this.streams.values()) {
      if (record.timing === undefined) continue;
      worst = Math.max(worst, Math.abs(record.native.stats().syncErrorUs ?? 0));
    }
    return worst;
  }

  /** Device xruns across reopens. */
  get xruns(): number {
    return this.supervisor.xruns;
  }

  /** Frees a stream's place; a stream that has not ended is aborted, so nothing is left attached. */
  release(record: StreamRecord): void {
    record.native.abort();
    this.streams.delete(record.id);
    if (record.queue !== undefined) this.#passTurn(record);
    // Nothing left to play: what the streams' bodies, decoders and V8's GC
    // helpers took from malloc and freed goes back to the kernel, so that an
    // idle service's RSS returns to where it was (native/src/c_heap.h).
    if (this.pending === 0 && !this.#closed) this.#returnFreeHeap();
  }

  // One at a time; an idle moment that comes while one runs gets one more
  // after it, so that every idle moment is followed by a whole pass.
  #heapReturn: 'idle' | 'running' | 'again' = 'idle';

  #returnFreeHeap(): void {
    if (this.#heapReturn !== 'idle') {
      this.#heapReturn = 'again';
      return;
    }
    this.#heapReturn = 'running';
    void returnFreeHeap().then((done) => {
      const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
      this.#log.debug({ rssBeforeMiB: mib(done.rssBefore), rssAfterMiB: mib(done.rssAfter), ms: Math.round(done.ms * 100) / 100 }, 'idle: free heap returned to the kernel');
      const again = this.#heapReturn === 'again';
      this.#heapReturn = 'idle';
      if (again && this.pending === 0 && !this.#closed) this.#returnFreeHeap();
    });
  }

  /** Stops one stream (DELETE), after a fade: its POST answers 409. A queued one leaves its queue. */
  stop(id: string): boolean {
    const record = this.streams.get(id);
    if (!record) return this.#queues.remove(id, failure('STREAM_STOPPED', { id, played: 'nothing played' }));
    record.stopped = true;
    record.native.cut();
    return true;
  }

  /** A queued stream whose client went away leaves its queue. */
  leaveQueue(id: string, error: SpeakerdError): void {
    this.#queues.remove(id, error);
  }

  /** Shutdown, first step: refuse new streams, let the running ones go on. */
  drain(): void {
    this.#draining = true;
  }

  /** Cuts every stream still playing, after a fade, and every one still queued (the grace period is over). */
  cutAll(): void {
    this.#queues.removeAll(failure('CUT_BY_SHUTDOWN', { played: 'nothing played' }));
    for (const record of this.streams.values()) record.native.cut();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#draining = true;
    await this.supervisor.close();
  }
}
