// One stream's life, owned by the engine from the request to the release:
//
//   ?gain= and the content type checked → a place in the table (429/503)
//   → body → decoder → converter → ring (stream-sink.ts) → the playback
//   thread's result → the place released
//
// The route hands in a PlayRequest and maps the PlayResult, or the
// SpeakerdError, to HTTP. Telemetry watches through a PlaybackObserver and
// sees a stream's facts and events, never the addon's objects.
import type { Readable } from 'node:stream';
import { failure } from '../error-table';
import { SpeakerdError } from '../errors';
import type { AudioFormat } from '../formats/audio-format';
import { decoderFor } from '../formats/detect';
import type { QueuedStream } from './stream-queues';
import type { Admission, AudioEngine, DeviceMode, StreamRecord } from './engine';
import { PRIORITIES, type DeviceInfo, type Priority } from './native';
import { outcomeOf, type StreamEnd } from './play-outcome';
import { decodedFormat, firstFrameLatencyMs, StreamSink, type PlayResult, type SinkOptions } from './stream-sink';
import { streamTiming, type TimingLimits } from './stream-timing';

/** ?at= as Unix ms (for POST /v1/broadcast, which picks the time its peers play at). */
export { parseAt } from './stream-timing';

export type { PlayResult };

/** The little of a pino logger a stream logs through (Fastify's request.log is one). */
export interface StreamLog {
  child(bindings: Record<string, unknown>): StreamLog;
  info(object: object, message: string): void;
}

export interface PlayRequest {
  body: Readable;
  contentType: string | undefined;
  name: string | undefined;
  /** The ?gain= text, in dB; undefined: 0 dB. */
  gainDb: string | undefined;
  /** The ?priority= text; undefined: normal. */
  priority: string | undefined;
  /** The ?queue= text; undefined: none. */
  queue: string | undefined;
  /** The ?at= and ?late= texts (design §2c); undefined: an untimed stream. */
  at?: string | undefined;
  late?: string | undefined;
  /** The request's logger: the stream's lines carry its request id. */
  log: StreamLog;
}

/** What an observer sees of an admitted stream. */
export interface AdmittedStream {
  readonly id: string;
  readonly name: string | undefined;
  readonly contentType: string | undefined;
  readonly mode: DeviceMode;
  readonly device: DeviceInfo;
  readonly priority: Priority;
  readonly queue: string | undefined;
  /** Time it waited in its queue before it was attached. */
  readonly queuedMs: number;
  /** The body's format, once its header has been read. */
  readonly format: AudioFormat | undefined;
  /** Each underrun of this stream (the running count) while it plays. */
  onUnderrun(listener: (count: number) => void): void;
  /** Each device xrun (the running count) while this stream plays. */
  onXrun(listener: (count: number) => void): void;
  /** Each duck, unduck, pause and resume of this stream, as the playback thread decided them. */
  onControl(listener: (change: ControlChange) => void): void;
}

export type ControlChange = 'ducked' | 'unducked' | 'paused' | 'resumed';

/** An observer's part in one stream. */
export interface StreamWatch {
  /** Runs the playback: a watch may run it in a context of its own (a trace span's, for the log lines). */
  run<T>(play: () => Promise<T>): Promise<T>;
  ended(end: StreamEnd): void;
}

export interface PlaybackObserver {
  /** A POST refused before it became a stream: the error code. */
  rejected(code: string): void;
  admitted(stream: AdmittedStream): StreamWatch;
}

export type StreamState = 'queued' | 'scheduled' | 'playing' | 'ducked' | 'paused';

/** A stream as GET /v1/streams lists it. */
export interface StreamListing {
  id: string;
  name: string | null;
  priority: Priority;
  queue: string | null;
  state: StreamState;
  /** The client's gain, dB. */
  gainDb: number;
  /** The level of its last frame mixed (gain, duck and fades), dB; null before its first frame or when silent. */
  levelDb: number | null;
  format: AudioFormat | null;
  framesPlayed: number;
  bufferedFrames: number;
  underruns: number;
  admitted: string;
  /** When it was attached to the device (after its wait in a queue); null while queued. */
  started: string | null;
  /** A timed stream (?at=): its time, and where the device clock placed it; null for an untimed one. */
  timing: TimingListing | null;
}

export interface TimingListing {
  /** The time asked for, Unix ms with a fraction. */
  atMs: number;
  late: 'skip' | 'play';
  /** When its first frame reaches (or reached) the DAC, by the device clock; null until placed. */
  startAtMs: number | null;
  /** Frames dropped to stay on time: a late start, a gap, a pause. */
  framesSkipped: number;
  /** How much later than its content's time the frame last converted will play, µs: what the clock lock corrects. */
  syncErrorUs: number | null;
}

/** What PATCH /v1/streams/:id may change. */
export interface StreamControl {
  gainDb?: unknown;
  paused?: unknown;
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const GAIN_DB_MIN = -120;
const GAIN_DB_MAX = 24;

/** The ?gain= value in dB: a finite decimal number in [-120, 24], else 400. */
export function gainDb(value: string | undefined): number {
  if (value === undefined) return 0;
  const db = DECIMAL.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(db) || db < GAIN_DB_MIN || db > GAIN_DB_MAX) {
    throw failure('INVALID_GAIN', { value, min: GAIN_DB_MIN, max: GAIN_DB_MAX });
  }
  return db;
}

/** The ?priority= class: one of PRIORITIES, else 400. */
export function priorityOf(value: string | undefined): Priority {
  if (value === undefined) return 'normal';
  if (!(PRIORITIES as readonly string[]).includes(value)) throw failure('INVALID_PRIORITY', { value, allowed: PRIORITIES });
  return value as Priority;
}

const QUEUE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The ?queue= name, else 400. */
export function queueName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!QUEUE_NAME.test(value)) throw failure('INVALID_QUEUE', { value });
  return value;
}

function listing(record: StreamRecord): StreamListing {
  const stats = record.native.stats();
  const scheduled = record.timing !== undefined && stats.phase === 'buffering';
  const state: StreamState = scheduled ? 'scheduled' : stats.paused ? 'paused' : stats.ducked ? 'ducked' : 'playing';
  return {
    id: record.id,
    name: record.name ?? null,
    priority: record.priority,
    queue: record.queue ?? null,
    state,
    gainDb: record.gainDb,
    levelDb: stats.framesPlayed > 0 && stats.level > 0 ? Number((20 * Math.log10(stats.level)).toFixed(2)) : null,
    format: record.format ?? (stats.decode && decodedFormat(stats.decode)) ?? null,
    framesPlayed: stats.framesPlayed,
    bufferedFrames: stats.bufferedFrames,
    underruns: stats.underruns,
    admitted: record.admitted.toISOString(),
    started: record.started.toISOString(),
    timing: record.timing ? { atMs: record.timing.at, late: record.timing.late, startAtMs: stats.startAtMs, framesSkipped: stats.framesSkipped, syncErrorUs: stats.syncErrorUs } : null,
  };
}

// A PATCH body: { gainDb?: number, paused?: boolean }, at least one, nothing else.
function checkedControl(change: StreamControl): { gainDb?: number; paused?: boolean } {
  if (typeof change !== 'object' || change === null || Array.isArray(change)) throw failure('INVALID_CONTROL', { reason: 'the body must be a JSON object' });
  const unknown = Object.keys(change).filter((key) => key !== 'gainDb' && key !== 'paused');
  if (unknown.length > 0) throw failure('INVALID_CONTROL', { reason: `unknown field ${JSON.stringify(unknown[0])}: a stream takes gainDb and paused` });
  const { gainDb: gain, paused } = change;
  if (gain === undefined && paused === undefined) throw failure('INVALID_CONTROL', { reason: 'the body asks for no change: send gainDb, paused or both' });
  if (gain !== undefined && (typeof gain !== 'number' || !Number.isFinite(gain) || gain < GAIN_DB_MIN || gain > GAIN_DB_MAX)) {
    throw failure('INVALID_CONTROL', { reason: `gainDb must be a number of dB from ${GAIN_DB_MIN} to ${GAIN_DB_MAX}; got ${JSON.stringify(gain)}` });
  }
  if (paused !== undefined && typeof paused !== 'boolean') throw failure('INVALID_CONTROL', { reason: `paused must be true or false; got ${JSON.stringify(paused)}` });
  return { ...(gain !== undefined ? { gainDb: gain as number } : {}), ...(paused !== undefined ? { paused: paused as boolean } : {}) };
}

function queuedListing(queued: QueuedStream): StreamListing {
  return {
    id: queued.id, name: queued.name ?? null, priority: queued.priority, queue: queued.queue, state: 'queued', gainDb: queued.gainDb, levelDb: null,
    format: null, framesPlayed: 0, bufferedFrames: 0, underruns: 0, admitted: queued.admitted.toISOString(), started: null,
    timing: null,
  };
}

// A watch that runs the playback as it is and hears nothing.
const NO_WATCH: StreamWatch = { run: (play) => play(), ended: () => undefined };

export class Playback {
  readonly #engine: AudioEngine;
  readonly #limits: SinkOptions & { timing: TimingLimits };
  #observer: PlaybackObserver | undefined;

  constructor(engine: AudioEngine, limits: SinkOptions & { timing: TimingLimits }) {
    this.#engine = engine;
    this.#limits = limits;
  }

  /** The one observer (telemetry); set before the first stream. */
  observe(observer: PlaybackObserver): void {
    this.#observer = observer;
  }

  /** Plays one body to its end; rejects with the SpeakerdError that says why it did not. */
  async play(request: PlayRequest): Promise<PlayResult> {
    let admission: Admission;
    let decoder: ReturnType<typeof decoderFor>;
    let gain: number;
    try {
      gain = gainDb(request.gainDb);
      const priority = priorityOf(request.priority);
      const queue = queueName(request.queue);
      const timing = streamTiming(request.at, request.late, queue, this.#limits.timing);
      decoder = decoderFor(request.contentType);
      admission = this.#engine.admit({ name: request.name, gainDb: gain, priority, queue, ...(timing ? { timing } : {}) });
    } catch (error) {
      this.#observer?.rejected((error as SpeakerdError).code);
      throw error;
    }
    const log = request.log.child({ streamId: admission.id, streamName: request.name });
    const record = admission.record ?? (await this.#waitForTurn(admission, request, log));
    const sink = new StreamSink(record, decoder, this.#limits, () => this.#engine.bodyEnded(record));
    log.info({ contentType: request.contentType, gainDb: gain, priority: record.priority, queue: record.queue }, 'stream admitted');
    this.#publish('admitted', record, { priority: record.priority, queue: record.queue ?? null, gainDb: record.gainDb, waitedMs: record.started.getTime() - record.admitted.getTime() });
    // Its events reach GET /v1/events whether or not telemetry watches.
    const admitted = this.#admitted(record, request.contentType);
    const watch = this.#observer?.admitted(admitted) ?? NO_WATCH;
    const end = (error: SpeakerdError | undefined, truncated?: boolean) => {
      const result = sink.result;
      const streamEnd: StreamEnd = { outcome: outcomeOf(error?.code), result, firstFrameMs: result && firstFrameLatencyMs(record, result), truncated, error };
      watch.ended(streamEnd);
      this.#publish('ended', record, { outcome: streamEnd.outcome, ...(error ? { error: error.toBody().error } : {}), frames: result?.frames ?? 0, duckedMs: result?.duckedMs ?? 0, pausedMs: result?.pausedMs ?? 0 });
      return streamEnd.firstFrameMs;
    };
    try {
      const result = await watch.run(() => sink.play(request.body));
      log.info({ result, format: record.format, firstFrameMs: end(undefined, result.truncated) }, 'stream played');
      return result;
    } catch (error) {
      const known = error instanceof SpeakerdError ? error : undefined;
      log.info({ code: (error as SpeakerdError).code, err: error, firstFrameMs: end(known) }, 'stream ended early');
      throw error;
    } finally {
      this.#release(record);
    }
  }

  // A queued stream waits, its body unread, until its queue gives it its
  // record. A client that goes away meanwhile leaves the queue.
  async #waitForTurn(admission: Admission, request: PlayRequest, log: StreamLog): Promise<StreamRecord> {
    log.info({ contentType: request.contentType }, 'stream queued');
    const body = request.body;
    const gone = () => this.#engine.leaveQueue(admission.id, failure('CLIENT_GONE', { played: 'nothing played' }));
    body.once('close', gone);
    body.once('error', gone);
    try {
      return await admission.turn!;
    } catch (error) {
      this.#observer?.rejected((error as SpeakerdError).code);
      this.#engine.events.publish('ended', { id: admission.id, outcome: outcomeOf((error as SpeakerdError).code), error: error instanceof SpeakerdError ? error.toBody().error : undefined, frames: 0 });
      throw error;
    } finally {
      body.off('close', gone);
      body.off('error', gone);
    }
  }

  #publish(type: string, record: StreamRecord, data: Record<string, unknown> = {}): void {
    this.#engine.events.publish(type, { id: record.id, name: record.name ?? null, ...data });
  }

  /**
   * PATCH /v1/streams/:id: a new gain (ramped over 20 ms) and/or a pause or
   * resume (faded). Undefined when no stream has that id; 400 for a body
   * that asks for nothing or for something out of range; 409 for a stream
   * still waiting in its queue.
   */
  control(id: string, change: StreamControl): StreamListing | undefined {
    const record = this.#engine.streams.get(id);
    if (!record) {
      if (this.#engine.queued().some((queued) => queued.id === id)) throw failure('STREAM_QUEUED', { id });
      return undefined;
    }
    const { gainDb: gainChange, paused } = checkedControl(change);
    if (gainChange !== undefined) {
      record.gainDb = gainChange;
      record.native.setGain(10 ** (gainChange / 20));
    }
    if (paused !== undefined) record.native.setPaused(paused);
    this.#publish('changed', record, { ...(gainChange !== undefined ? { gainDb: gainChange } : {}), ...(paused !== undefined ? { paused } : {}) });
    return listing(record);
  }

  /** Every stream in the table, then every one waiting in a queue. */
  list(): StreamListing[] {
    return [...[...this.#engine.streams.values()].map(listing), ...this.#engine.queued().map(queuedListing)];
  }

  /** One stream, or undefined when none has that id. */
  describe(id: string): StreamListing | undefined {
    const record = this.#engine.streams.get(id);
    if (record) return listing(record);
    const queued = this.#engine.queued().find((candidate) => candidate.id === id);
    return queued && queuedListing(queued);
  }

  /** Stops one stream (DELETE): its POST answers 409. False when none has that id. */
  stop(id: string): boolean {
    return this.#engine.stop(id);
  }

  // The listeners an observer adds go with the stream: #release removes them.
  readonly #detachers = new Map<string, (() => void)[]>();

  #admitted(record: StreamRecord, contentType: string | undefined): AdmittedStream {
    const detachers: (() => void)[] = [];
    this.#detachers.set(record.id, detachers);
    const supervisor = this.#engine.supervisor;
    const controlListeners: ((change: ControlChange) => void)[] = [];
    // Its events for GET /v1/events, in the order the playback thread saw them.
    for (const type of ['started', 'ducked', 'unducked', 'paused', 'resumed'] as const) {
      const listener = () => {
        this.#publish(type, record);
        if (type !== 'started') for (const control of controlListeners) control(type);
      };
      record.native.on(type, listener);
      detachers.push(() => record.native.off(type, listener));
    }
    return {
      id: record.id,
      name: record.name,
      contentType,
      mode: record.mode,
      device: record.device,
      priority: record.priority,
      queue: record.queue,
      queuedMs: record.started.getTime() - record.admitted.getTime(),
      get format() {
        return record.format;
      },
      onUnderrun(listener) {
        record.native.on('underrun', listener);
        detachers.push(() => record.native.off('underrun', listener));
      },
      onXrun(listener) {
        supervisor.on('xrun', listener);
        detachers.push(() => supervisor.off('xrun', listener));
      },
      onControl(listener) {
        controlListeners.push(listener);
      },
    };
  }

  #release(record: StreamRecord): void {
    for (const detach of this.#detachers.get(record.id) ?? []) detach();
    this.#detachers.delete(record.id);
    this.#engine.release(record);
  }
}
