// Plays one request body: body bytes → decoder (whole frames) → converter
// (device format) → the stream's ring, reading the socket only as fast as the
// ring takes frames. Ends with the stream's result, or a SpeakerdError that
// says why it stopped.
import type { Readable } from 'node:stream';
import { SpeakerdError } from '../errors';
import type { BodyDecoder } from '../formats/decoder';
import { frameBytes } from '../formats/audio-format';
import { createConverter, type Converter } from './converter';
import type { StreamRecord } from './engine';
import type { StreamResult } from './native';

export interface SinkOptions {
  idleTimeoutMs: number;
  maxSeconds: number;
}

export interface PlayResult {
  id: string;
  frames: number;
  seconds: number;
  underruns: number;
  truncated: boolean;
  mode: string;
}

/** First body byte → first frame committed to ALSA, in ms; undefined when nothing played. */
export function firstFrameLatencyMs(record: StreamRecord, result: { firstCommitNs: number }): number | undefined {
  if (record.firstByteNs === 0 || result.firstCommitNs === 0) return undefined;
  return (result.firstCommitNs - record.firstByteNs) / 1e6;
}

/** Why the body stopped before its end. */
type Cut = { kind: 'idle' } | { kind: 'too_long' } | { kind: 'client_gone' };

export class StreamSink {
  readonly #record: StreamRecord;
  readonly #decoder: BodyDecoder;
  readonly #options: SinkOptions;
  #converter: Converter | undefined;
  /** The body is already in the device's format: frames go to the ring as they are. */
  #passThrough = false;
  #opened = false;
  #inputFrames = 0;
  #maxInputFrames = Infinity;
  #result: StreamResult | undefined;

  constructor(record: StreamRecord, decoder: BodyDecoder, options: SinkOptions) {
    this.#record = record;
    this.#decoder = decoder;
    this.#options = options;
  }

  async play(body: Readable): Promise<PlayResult> {
    let cut: Cut | undefined;
    let truncated = false;
    try {
      cut = await this.#pump(body);
      if (cut?.kind === 'client_gone') {
        this.#record.native.abort();
      } else if (cut === undefined) {
        truncated = this.#decoder.end().truncated;
      }
      await this.#finishConversion();
    } catch (error) {
      this.#record.native.abort();
      throw error;
    }
    const result = await this.#finish();
    this.#result = result;
    return this.#answer(result, cut, truncated);
  }

  /** The playback thread's account of the stream, once it has ended (also when play() threw). */
  get result(): StreamResult | undefined {
    return this.#result;
  }

  // Reads the body as it arrives. A chunk the ring takes at once costs no
  // promise and no timer: at hundreds of MB/s these dominated the JS thread.
  // Only when the ring is full does the body pause until it has room.
  #pump(body: Readable): Promise<Cut | undefined> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let waitingForRoom = false;
      // One timer for the whole body, pushed back by every chunk; waiting for
      // the ring to make room is not the client's idleness.
      const idle = setTimeout(() => {
        if (!waitingForRoom) settle({ kind: 'idle' });
      }, this.#options.idleTimeoutMs);
      const settle = (cut: Cut | undefined, error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        body.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onError);
        // Whatever the client still sends is not read: nothing more can play.
        body.pause();
        if (error === undefined) resolve(cut);
        else reject(error);
      };
      const afterChunk = (more: boolean) => {
        if (!more) settle(this.#inputFrames >= this.#maxInputFrames ? { kind: 'too_long' } : undefined);
        // Past the declared audio nothing more can play: stop reading, so
        // that trailing bytes cannot hold the stream open.
        else if (this.#decoder.finished) settle(undefined);
      };
      const onData = (chunk: Buffer) => {
        // The same clock as the playback thread's commit stamps.
        if (this.#record.firstByteNs === 0) this.#record.firstByteNs = Number(process.hrtime.bigint());
        let played: boolean | Promise<boolean>;
        try {
          played = this.#play(chunk);
        } catch (error) {
          settle(undefined, error);
          return;
        }
        if (typeof played === 'boolean') {
          idle.refresh();
          afterChunk(played);
          return;
        }
        body.pause();
        waitingForRoom = true;
        played.then(
          (more) => {
            if (settled) return;
            waitingForRoom = false;
            idle.refresh();
            afterChunk(more);
            if (!settled) body.resume();
          },
          (error: unknown) => settle(undefined, error),
        );
      };
      const onEnd = () => settle(undefined);
      // Closed before its end: the client went away.
      const onClose = () => {
        if (!body.readableEnded) settle({ kind: 'client_gone' });
      };
      const onError = (error: unknown) => (body.destroyed ? settle({ kind: 'client_gone' }) : settle(undefined, error));
      if (body.readableEnded) return settle(undefined);
      if (body.destroyed) return settle({ kind: 'client_gone' });
      body.on('data', onData).on('end', onEnd).on('close', onClose).on('error', onError);
    });
  }

  // Decodes, converts and queues one body chunk; false when the stream will
  // take no more (stopped, the device lost, or the length limit reached).
  // Synchronous while the ring has room; a promise once it has to wait.
  #play(chunk: Buffer): boolean | Promise<boolean> {
    const pieces = this.#decoder.write(chunk);
    for (let i = 0; i < pieces.length; i++) {
      const piece = this.#toDevice(pieces[i]);
      const rest = this.#record.native.writeSome(piece.frames);
      if (rest.byteLength > 0) return this.#playWaiting(rest, piece.more, pieces.slice(i + 1));
      if (!piece.more) return false;
    }
    return true;
  }

  // The rest of a chunk once the ring was full: each piece waits for room.
  async #playWaiting(rest: Uint8Array, more: boolean, pieces: Buffer[]): Promise<boolean> {
    if (!(await this.#record.native.writeAll(rest)) || !more) return false;
    for (const frames of pieces) {
      const piece = this.#toDevice(frames);
      if (!(await this.#record.native.writeAll(piece.frames)) || !piece.more) return false;
    }
    return true;
  }

  // One decoded piece in the device's format, cut at the length limit;
  // `more` is false once the limit is reached.
  #toDevice(decoded: Buffer): { frames: Uint8Array; more: boolean } {
    this.#open();
    const bytesPerFrame = frameBytes(this.#record.format!);
    const room = this.#maxInputFrames - this.#inputFrames;
    const count = decoded.length / bytesPerFrame;
    const frames = count > room ? decoded.subarray(0, room * bytesPerFrame) : decoded;
    this.#inputFrames += Math.min(count, room);
    return { frames: this.#passThrough ? frames : this.#converter!.convert(frames), more: count <= room };
  }

  // The converter starts with the first frames, once the format is known.
  // A body already in the device's format skips it: one copy and one
  // garbage buffer fewer per chunk.
  #open() {
    if (!this.#opened) {
      const format = this.#decoder.format!;
      const device = this.#record.device;
      this.#record.format = format;
      this.#maxInputFrames = this.#options.maxSeconds * format.rate;
      this.#passThrough = format.sampleFormat === device.format && format.rate === device.rate && format.channels === device.channels;
      if (!this.#passThrough) {
        this.#converter = createConverter({
          from: { format: format.sampleFormat, rate: format.rate, channels: format.channels },
          to: { format: device.format, rate: device.rate, channels: device.channels },
        });
      }
      this.#opened = true;
    }
  }

  async #finishConversion(): Promise<void> {
    if (!this.#converter) return;
    const tail = this.#converter.flush();
    if (tail.length > 0) await this.#record.native.writeAll(tail);
  }

  async #finish(): Promise<StreamResult> {
    this.#record.native.end();
    return this.#record.native.finished();
  }

  #answer(result: StreamResult, cut: Cut | undefined, truncated: boolean): PlayResult {
    const rate = this.#record.device.rate;
    const frames = result.frames;
    const played = `${frames} frames (${(frames / rate).toFixed(3)} s) played`;
    if (cut?.kind === 'client_gone') {
      // Nobody is left to read this; the route logs it.
      throw new SpeakerdError('E_CLIENT_GONE', 499, `the client went away; ${played} before the stream was stopped`, 'nothing to do');
    }
    if (result.outcome === 'device_lost') {
      throw new SpeakerdError('E_DEVICE_LOST', 503, `the audio device was lost during the stream; ${played}`, 'speakerd reopens the device by itself; send the stream again when /readyz answers 200');
    }
    if (this.#record.stopped) {
      throw new SpeakerdError('E_STREAM_STOPPED', 409, `the stream was stopped by DELETE /v1/streams/${this.#record.id}; ${played}`, 'nothing to do: someone stopped it on purpose');
    }
    if (result.outcome === 'aborted' || result.outcome === 'closed') {
      throw new SpeakerdError('E_SHUTTING_DOWN', 503, `speakerd shut down during the stream; ${played}`, 'send the rest to another instance, or retry after the restart');
    }
    if (cut?.kind === 'idle') {
      throw new SpeakerdError('E_STREAM_IDLE', 408, `no data for ${this.#options.idleTimeoutMs} ms; ${played}`, 'send the body without pauses longer than STREAM_IDLE_TIMEOUT_MS');
    }
    if (cut?.kind === 'too_long') {
      throw new SpeakerdError('E_STREAM_TOO_LONG', 413, `the stream is longer than MAX_STREAM_SECONDS=${this.#options.maxSeconds}; the first ${played}`, 'split the audio into shorter streams, or raise MAX_STREAM_SECONDS');
    }
    return { id: this.#record.id, frames, seconds: frames / rate, underruns: result.underruns, truncated, mode: this.#record.mode };
  }
}
