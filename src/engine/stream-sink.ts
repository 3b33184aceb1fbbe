// Plays one request body: body bytes → decoder (whole frames) → the native
// stream, which converts them into the device's format straight into its
// ring, reading the socket only as fast as the ring takes frames. Ends with
// the stream's result, or a SpeakerdError that says why it stopped.
import type { Readable } from 'node:stream';
import { failure } from '../error-table';
import type { Codec } from '../formats/codec';
import type { BodyDecoder } from '../formats/decoder';
import { frameBytes, type AudioFormat, type InputSampleFormat } from '../formats/audio-format';
import { BodyReader } from './body-reader';
import type { StreamRecord } from './engine';
import type { DecodeSummary, StreamResult } from './native';
import { StreamProgress, type Stall } from './stream-progress';

export interface SinkOptions {
  idleTimeoutMs: number;
  maxSeconds: number;
  /** Wall-clock time a stream may take, however it advances. */
  maxWallSeconds: number;
}

export interface PlayResult {
  id: string;
  frames: number;
  seconds: number;
  underruns: number;
  truncated: boolean;
  mode: string;
  /** A compressed body's codec. */
  codec?: Codec;
  /** A compressed body's corrupt frames or packets, skipped. */
  decodeErrors?: number;
  /** A timed stream's frames dropped to stay on the wall clock (a late start, a gap in the body, a pause): not in `frames`. */
  framesSkipped?: number;
}

/** First body byte → first frame committed to ALSA, in ms; undefined when nothing played. */
export function firstFrameLatencyMs(record: StreamRecord, result: { firstCommitNs: number }): number | undefined {
  if (record.firstByteNs === 0 || result.firstCommitNs === 0) return undefined;
  return (result.firstCommitNs - record.firstByteNs) / 1e6;
}

/** Why the body stopped before its end. */
type Cut = { kind: Stall } | { kind: 'too_long' } | { kind: 'client_gone' } | { kind: 'stream_done' };

export class StreamSink {
  readonly #record: StreamRecord;
  readonly #decoder: BodyDecoder;
  readonly #options: SinkOptions;
  #opened = false;
  #inputFrames = 0;
  #maxInputFrames = Infinity;
  #bytesPerFrame = 1;
  #result: StreamResult | undefined;
  readonly #progress: StreamProgress;
  readonly #bodyEnded: () => void;

  /** `bodyEnded` is called once the body has been read to its end (not when it was cut short): a queue's next stream may then read its own. */
  constructor(record: StreamRecord, decoder: BodyDecoder, options: SinkOptions, bodyEnded: () => void = () => undefined) {
    this.#record = record;
    this.#decoder = decoder;
    this.#options = options;
    this.#bodyEnded = bodyEnded;
    this.#progress = new StreamProgress({
      idleTimeoutMs: options.idleTimeoutMs,
      // A timed stream's wait for its time is not its own either.
      wallMs: options.maxWallSeconds * 1000 + Math.max(0, (record.timing?.at ?? 0) - Date.now()),
      framesPerStep: record.device.periodFrames,
      // Paused time (by its client or an alarm) is not the stream's.
      pausedMs: () => record.native.stats().pausedMs,
    });
  }

  async play(body: Readable): Promise<PlayResult> {
    let cut: Cut | undefined;
    let truncated = false;
    try {
      cut = await this.#pump(body);
      if (cut?.kind === 'client_gone') {
        // Stops at once, but without a click: a fade over what is buffered.
        this.#record.native.cut();
      } else if (cut === undefined) {
        truncated = this.#decoder.end().truncated;
        this.#bodyEnded();
      }
    } catch (error) {
      this.#record.native.abort();
      throw error;
    }
    const result = await this.#finish();
    this.#result = result;
    if (result.decode?.format) this.#record.format = decodedFormat(result.decode);
    return this.#answer(result, cut, truncated);
  }

  /** The playback thread's account of the stream, once it has ended (also when play() threw). */
  get result(): StreamResult | undefined {
    return this.#result;
  }

  // Reads the body as the ring takes it, in the batches Node buffered, until
  // its end or a reason to stop.
  async #pump(body: Readable): Promise<Cut | undefined> {
    const reader = new BodyReader(body, this.#record.native);
    try {
      for (;;) {
        let read = reader.poll();
        if (read === undefined) {
          const waitStart = this.#progress.now;
          read = await reader.next(this.#progress.waitBudgetMs());
          this.#progress.waited(this.#progress.now - waitStart);
        }
        switch (read.kind) {
          case 'timeout':
            return { kind: this.#progress.stall() };
          case 'gone':
            return { kind: 'client_gone' };
          case 'stream_done':
            return { kind: 'stream_done' };
          case 'end':
            return undefined;
        }
        // The same clock as the playback thread's commit stamps.
        if (this.#record.firstByteNs === 0) this.#record.firstByteNs = Number(process.hrtime.bigint());
        const framesBefore = this.#framesSoFar();
        const playing = this.#play(read.bytes);
        const more = playing === true || playing === false ? playing : await playing;
        reader.release(read.bytes);
        this.#progress.advanced(this.#framesSoFar() - framesBefore);
        if (!more) return this.#inputFrames >= this.#maxInputFrames ? { kind: 'too_long' } : undefined;
        // Past the declared audio nothing more can play: stop reading, so
        // that trailing bytes cannot hold the stream open.
        if (this.#decoder.finished) return undefined;
      }
    } finally {
      reader.dispose();
    }
  }

  // Decodes one body chunk and queues its frames; false when the stream will
  // take no more (stopped, the device lost, or the length limit reached).
  // Synchronous while the ring has room, which is nearly always: a promise
  // per chunk is a measurable share of the ingest rate (docs/decisions.md).
  #play(chunk: Buffer): boolean | Promise<boolean> {
    const batches = this.#decoder.write(chunk);
    for (let i = 0; i < batches.length; i++) {
      const queued = this.#queue(batches[i]);
      if (queued !== true) return queued === false ? false : this.#playRest(queued, batches, i + 1);
    }
    return true;
  }

  async #playRest(waiting: Promise<boolean>, batches: Buffer[], next: number): Promise<boolean> {
    if (!(await waiting)) return false;
    for (let i = next; i < batches.length; i++) {
      if (!(await this.#queue(batches[i]))) return false;
    }
    return true;
  }

  // Queues one batch of whole frames, cut at the length limit: true when all
  // of it is in the ring, a promise while it waits for room.
  #queue(frames: Buffer): boolean | Promise<boolean> {
    const stream = this.#open();
    const bytesPerFrame = this.#bytesPerFrame;
    const room = this.#maxInputFrames - this.#inputFrames;
    const count = frames.length / bytesPerFrame;
    if (count > room) {
      frames = frames.subarray(0, room * bytesPerFrame);
      // The last frames before the cap fade out (said before they are written).
      stream.fadeTail();
    }
    this.#inputFrames += Math.min(count, room);
    if (stream.result) return false;
    const written = frames.length === 0 ? 0 : stream.write(frames) * bytesPerFrame;
    const queued = written === frames.length || stream.writeAll(frames.subarray(written));
    if (count <= room) return queued;
    return queued === true ? false : queued.then(() => false);
  }

  // Progress in frames: a PCM body's input frames; a compressed body's
  // decoded audio, in device frames (its bytes say nothing of its length).
  #framesSoFar(): number {
    return this.#decoder.codec === undefined ? this.#inputFrames : this.#record.native.queuedFrames();
  }

  // The native stream learns the body's format with its first frames, once
  // the decoder knows it; it decides there whether they need converting. A
  // compressed body's bytes go to a decode thread of the stream's own, which
  // learns the format itself and holds the length limit.
  #open() {
    if (!this.#opened && this.#decoder.codec !== undefined) {
      this.#record.native.setInputCodec(this.#decoder.codec, this.#options.maxSeconds);
      this.#progress.setFramesPerStep(this.#record.device.periodFrames);
      this.#opened = true;
    }
    if (!this.#opened) {
      const format = this.#decoder.format!;
      const device = this.#record.device;
      this.#record.format = format;
      this.#bytesPerFrame = frameBytes(format);
      this.#maxInputFrames = this.#options.maxSeconds * format.rate;
      this.#progress.setFramesPerStep(Math.ceil((device.periodFrames * format.rate) / device.rate));
      this.#record.native.setInputFormat({ format: format.sampleFormat, rate: format.rate, channels: format.channels });
      this.#opened = true;
    }
    return this.#record.native;
  }

  async #finish(): Promise<StreamResult> {
    this.#record.native.end();
    return this.#record.native.finished();
  }

  #answer(result: StreamResult, cut: Cut | undefined, truncated: boolean): PlayResult {
    const rate = this.#record.device.rate;
    const frames = result.frames;
    const played = `${frames} frames (${(frames / rate).toFixed(3)} s) played`;
    if (cut?.kind === 'client_gone') throw failure('CLIENT_GONE', { played }); // nobody is left to read this; the route logs it
    if (result.outcome === 'device_lost') throw failure('DEVICE_LOST_DURING_STREAM', { played });
    if (this.#record.stopped) throw failure('STREAM_STOPPED', { id: this.#record.id, played });
    if (result.outcome === 'aborted' || result.outcome === 'closed') throw failure('CUT_BY_SHUTDOWN', { played });
    if (cut?.kind === 'idle') throw failure('STREAM_IDLE', { periodFrames: this.#record.device.periodFrames, idleTimeoutMs: this.#options.idleTimeoutMs, played });
    if (cut?.kind === 'too_slow') throw failure('STREAM_TOO_SLOW', { maxWallSeconds: this.#options.maxWallSeconds, played });
    const decode = result.decode;
    if (decode?.error) {
      throw failure(decode.error.code === 'E_FORMAT_CHANGED' ? 'FORMAT_CHANGED' : 'DECODE_FAILED', { message: decode.error.message, played });
    }
    if (cut?.kind === 'too_long' || decode?.tooLong) throw failure('STREAM_TOO_LONG', { maxSeconds: this.#options.maxSeconds, played });
    const answer: PlayResult = { id: this.#record.id, frames, seconds: frames / rate, underruns: result.underruns, truncated, mode: this.#record.mode };
    if (this.#record.timing) answer.framesSkipped = this.#record.native.stats().framesSkipped;
    if (decode) {
      answer.truncated ||= decode.truncated;
      answer.codec = decode.codec;
      answer.decodeErrors = decode.decodeErrors;
    }
    return answer;
  }
}

/** A compressed body's audio as the decoder found it, in the terms of a PCM body's format. */
export function decodedFormat(decode: DecodeSummary): AudioFormat | undefined {
  const format = decode.format;
  return format ? { sampleFormat: format.format as InputSampleFormat, rate: format.rate, channels: format.channels } : undefined;
}
