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
import type { AudioEngine, DeviceMode, StreamRecord } from './engine';
import type { DeviceInfo } from './native';
import { outcomeOf, type StreamEnd } from './play-outcome';
import { decodedFormat, firstFrameLatencyMs, StreamSink, type PlayResult, type SinkOptions } from './stream-sink';

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
  /** The body's format, once its header has been read. */
  readonly format: AudioFormat | undefined;
  /** Each underrun of this stream (the running count) while it plays. */
  onUnderrun(listener: (count: number) => void): void;
  /** Each device xrun (the running count) while this stream plays. */
  onXrun(listener: (count: number) => void): void;
}

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

/** A stream as GET /v1/streams lists it. */
export interface StreamListing {
  id: string;
  name: string | null;
  format: AudioFormat | null;
  framesPlayed: number;
  bufferedFrames: number;
  underruns: number;
  started: string;
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

function listing(record: StreamRecord): StreamListing {
  const stats = record.native.stats();
  return {
    id: record.id,
    name: record.name ?? null,
    format: record.format ?? (stats.decode && decodedFormat(stats.decode)) ?? null,
    framesPlayed: stats.framesPlayed,
    bufferedFrames: stats.bufferedFrames,
    underruns: stats.underruns,
    started: record.started.toISOString(),
  };
}

// A watch that runs the playback as it is and hears nothing.
const NO_WATCH: StreamWatch = { run: (play) => play(), ended: () => undefined };

export class Playback {
  readonly #engine: AudioEngine;
  readonly #limits: SinkOptions;
  #observer: PlaybackObserver | undefined;

  constructor(engine: AudioEngine, limits: SinkOptions) {
    this.#engine = engine;
    this.#limits = limits;
  }

  /** The one observer (telemetry); set before the first stream. */
  observe(observer: PlaybackObserver): void {
    this.#observer = observer;
  }

  /** Plays one body to its end; rejects with the SpeakerdError that says why it did not. */
  async play(request: PlayRequest): Promise<PlayResult> {
    let record: StreamRecord;
    let sink: StreamSink;
    let gain: number;
    try {
      gain = gainDb(request.gainDb);
      const decoder = decoderFor(request.contentType);
      record = this.#engine.admit(request.name, 10 ** (gain / 20));
      sink = new StreamSink(record, decoder, this.#limits);
    } catch (error) {
      this.#observer?.rejected((error as SpeakerdError).code);
      throw error;
    }
    const log = request.log.child({ streamId: record.id, streamName: record.name });
    log.info({ contentType: request.contentType, gainDb: gain }, 'stream admitted');
    const watch = this.#observer?.admitted(this.#admitted(record, request.contentType)) ?? NO_WATCH;
    const end = (error: SpeakerdError | undefined, truncated?: boolean) => {
      const result = sink.result;
      const streamEnd: StreamEnd = { outcome: outcomeOf(error?.code), result, firstFrameMs: result && firstFrameLatencyMs(record, result), truncated, error };
      watch.ended(streamEnd);
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

  /** Every stream in the table. */
  list(): StreamListing[] {
    return [...this.#engine.streams.values()].map(listing);
  }

  /** One stream, or undefined when none has that id. */
  describe(id: string): StreamListing | undefined {
    const record = this.#engine.streams.get(id);
    return record && listing(record);
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
    return {
      id: record.id,
      name: record.name,
      contentType,
      mode: record.mode,
      device: record.device,
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
    };
  }

  #release(record: StreamRecord): void {
    for (const detach of this.#detachers.get(record.id) ?? []) detach();
    this.#detachers.delete(record.id);
    this.#engine.release(record);
  }
}
