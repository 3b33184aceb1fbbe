// The typed face of the native addon: loads it, points alsa-lib at the
// configuration shipped with the build, checks arguments before they cross
// into C++, and turns the playback thread's event batches into events on
// Device and Stream objects.
import { EventEmitter, once } from 'node:events';
import type { Codec } from '../formats/codec';
import { argumentError, checkInteger } from '../errors';
import { addon, alsaConfigDir, alsaLibVersion } from './addon';
import { MAX_DEVICE_CHANNELS, MAX_RATE, MIN_DEVICE_RATE } from '../formats/audio-format';
import { DEFAULT_RESAMPLER_QUALITY, checkInputFormat, checkResamplerQuality, type InputFormat } from './format-checks';

import { MAX_CLOCK_PPM, SAMPLE_FORMATS, type SampleFormat, type UnderrunPolicy } from './audio-settings';

export { SAMPLE_FORMATS, type InputFormat, type SampleFormat, type UnderrunPolicy };

export interface PlaybackFormat {
  /** Sample format of the device, and of every frame written to its streams. */
  format?: SampleFormat;
  rate?: number;
  channels?: number;
  periodFrames?: number;
  periods?: number;
  /** What to do when a playing stream runs dry (design §2). */
  underrun?: UnderrunPolicy;
  /** Silence policy: how long an idle device keeps running, in ms. */
  idleMs?: number;
  /** Try SCHED_FIFO for the playback thread. */
  realtime?: boolean;
  /** What a higher class playing leaves of a lower one's level, linear (design §2b). */
  duckGain?: number;
  /** How long a duck ramps down and back up, in ms. */
  duckRampMs?: number;
  /** How long a pause, a resume and a cut fade, in ms. */
  fadeMs?: number;
  /** The software master volume at open, linear. */
  masterGain?: number;
}

export interface DeviceOptions extends PlaybackFormat {
  /** ALSA PCM name, e.g. "plughw:0,0", or one defined in alsaConfig. */
  pcm: string;
  /** ALSA configuration text merged over alsa.conf, e.g. to define a file PCM. */
  alsaConfig?: string;
}

export interface DeviceInfo {
  pcm: string;
  format: SampleFormat;
  rate: number;
  channels: number;
  periodFrames: number;
  bufferFrames: number;
  frameBytes: number;
  access: 'mmap';
  /** The sound card the PCM plays on (its mixer is hardware-volume.ts's), or null for a PCM on none: file, null, the clock sink. */
  card: number | null;
}

export interface DeviceStats {
  open: boolean;
  framesCommitted: number;
  xruns: number;
  /** Times a producer (a write, end, abort or new stream) woke the sleeping playback thread; writes wake it at most once per event-loop turn unless they fill half a ring. */
  producerWakes: number;
  running: boolean;
  /** The playback thread stopped on an error it cannot recover from (the 'error' event). */
  failed: boolean;
  /** Whether SCHED_FIFO was granted; null until the thread has tried. */
  realtime: boolean | null;
  streams: number;
  clock: DeviceClockStats;
}

/** When frames reach the DAC, by the device's own status reports (native/src/device_clock.h). */
export interface DeviceClockStats {
  /** A line is fitted through the reports of the running device; false while it is stopped or just started. */
  locked: boolean;
  /** How far the card's sample clock runs off its nominal rate against CLOCK_MONOTONIC, in parts per million. */
  driftPpm: number | null;
  /** The last report's distance from the line, in µs: how well the device keeps time. */
  residualUs: number | null;
}

/** Why the playback thread let a stream go (not how its POST ended: play-outcome.ts). */
export type RetireReason = 'played' | 'aborted' | 'device_lost' | 'closed';

export type { Codec };

/** What a compressed stream's decode thread found. */
export interface DecodeSummary {
  codec: Codec;
  /** The decoded audio's format (ALSA's format name), once the codec said. */
  format: { format: string; rate: number; channels: number } | null;
  /** Decoded frames at the source rate (after a cut at maxSeconds). */
  frames: number;
  /** Corrupt frames or packets skipped. */
  decodeErrors: number;
  /** The body ended inside a frame or before its stated end. */
  truncated: boolean;
  /** Decoded audio went past maxSeconds and was not played. */
  tooLong: boolean;
  /** Why decoding stopped before the body's end: E_DECODE_FAILED, E_FORMAT_CHANGED. */
  error: { code: string; message: string } | null;
}

export interface StreamResult {
  outcome: RetireReason;
  /** A compressed stream's decode (setInputCodec); undefined for PCM. */
  decode?: DecodeSummary;
  frames: number;
  underruns: number;
  /** CLOCK_MONOTONIC (as process.hrtime) of the first write and first commit to ALSA, 0 if none. */
  firstWriteNs: number;
  firstCommitNs: number;
  /** Time spent ducked and paused. */
  duckedMs: number;
  pausedMs: number;
}

export interface StreamStats {
  id: number;
  framesPlayed: number;
  underruns: number;
  bufferedFrames: number;
  capacityFrames: number;
  firstWriteNs: number;
  firstCommitNs: number;
  phase: 'buffering' | 'playing' | 'finishing' | 'retired';
  /** Ducked by a higher class; paused by its client or an alarm (as the playback thread last decided). */
  ducked: boolean;
  paused: boolean;
  /** The level of the last frame mixed, linear: gain × duck × fade. */
  level: number;
  duckedMs: number;
  pausedMs: number;
  /** A timed stream: when its first frame reaches (or reached) the DAC, Unix ms by the device clock; null until placed, or untimed. */
  startAtMs: number | null;
  /** A timed stream: frames dropped to stay on time (a late start, a gap, a pause). */
  framesSkipped: number;
  /** A timed stream: how much later than its content's time the last frame converted will play, µs (the clock lock's error); null until placed. */
  syncErrorUs: number | null;
  decode?: DecodeSummary;
}

/** Priority classes, lowest first (design §2b). */
export const PRIORITIES = ['background', 'normal', 'announcement', 'alarm'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface StreamOptions {
  /** Linear gain, 1 = unchanged. */
  gain?: number;
  /** Its class: while a higher one plays, it is ducked (paused under an alarm). Default normal. */
  priority?: Priority;
  /** The stream this one follows in a queue: it starts right after that one's last frame. */
  follows?: Stream;
  /** Ring capacity in frames, rounded up to a power of two. */
  ringFrames?: number;
  /** A timed stream (design §2c): when its first frame must reach the DAC, Unix ms on the wall clock. */
  at?: number;
  /** A timed stream whose start has passed by the time it is placed: start at the frame that belongs to now (skip, the default) or at once (play). */
  late?: 'skip' | 'play';
}

/** An Error from alsa-lib or the playback thread. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  alsaMessages: string[];
}

type NativeEvent = [type: string, streamId: number, detail: unknown];
type Dispatch = (events: NativeEvent[]) => void;

interface NativeStream {
  id: number;
  setInputFormat(format: InputFormat & { quality?: number }): number;
  setInputCodec(options: { codec: Codec; maxSeconds: number; quality: number; inputBytes?: number }): void;
  queuedFrames(): number;
  write(chunk: Uint8Array): number;
  end(): boolean;
  abort(): void;
  setGain(gain: number): void;
  setPaused(paused: boolean): void;
  cut(): void;
  fadeTail(): void;
  stats(): StreamStats;
}

interface NativeStreamOptions {
  gain: number;
  priority?: number;
  follows?: number;
  ringFrames?: number;
  at?: number;
  late?: 'skip' | 'play';
}

interface NativeDevice {
  readonly info: DeviceInfo;
  createStream(options: NativeStreamOptions): NativeStream;
  setMasterGain(gain: number): void;
  stats(): DeviceStats;
  close(): Promise<void>;
}

/** What alsa-lib made of configuration text: message is its own words, with the parser's line and column. */
export type AlsaConfigCheck = { ok: true } | { ok: false; message: string };

interface NativeAddon {
  checkAlsaConfig(text: string): AlsaConfigCheck;
  openDevice(options: Required<Omit<DeviceOptions, 'alsaConfig'>> & { alsaConfig?: string }, dispatch: Dispatch): Promise<NativeDevice>;
  openClockSink(options: Required<PlaybackFormat> & { pcm: string; ppm: number; timeline: string }, dispatch: Dispatch): Promise<NativeDevice>;
  freeBuffer(bytes: Uint8Array): boolean;
}

const native = addon as NativeAddon;

export { alsaConfigDir, alsaLibVersion };

/**
 * Frees a buffer's memory now instead of at V8's next GC, for a buffer
 * nothing else will read, once its bytes have been copied where they go
 * (native/src/free_buffer.h says why). Only a buffer that spans its whole
 * ArrayBuffer is freed, and it reads as empty from then on; any other is
 * left to the GC. True when it was freed.
 */
export function freeBuffer(bytes: Uint8Array): boolean {
  return native.freeBuffer(bytes);
}

function checkGain(name: string, gain: unknown): number {
  if (typeof gain !== 'number' || !Number.isFinite(gain) || gain < 0) {
    throw argumentError(`${name} must be a finite number >= 0; got ${String(gain)}`);
  }
  return gain;
}

function checkFormat(options: PlaybackFormat): Required<PlaybackFormat> {
  const format = options.format ?? 'S16_LE';
  if (!SAMPLE_FORMATS.includes(format)) {
    throw argumentError(`format must be one of ${SAMPLE_FORMATS.join(', ')}; got ${String(format)}`);
  }
  const underrun = options.underrun ?? 'silence';
  if (underrun !== 'silence' && underrun !== 'wait') {
    throw argumentError(`underrun must be "silence" or "wait"; got ${String(underrun)}`);
  }
  if (options.realtime !== undefined && typeof options.realtime !== 'boolean') {
    throw argumentError(`realtime must be a boolean; got ${String(options.realtime)}`);
  }
  return {
    format,
    rate: checkInteger('rate', options.rate ?? 48000, MIN_DEVICE_RATE, MAX_RATE),
    channels: checkInteger('channels', options.channels ?? 2, 1, MAX_DEVICE_CHANNELS),
    periodFrames: checkInteger('periodFrames', options.periodFrames ?? 1024, 16, 1 << 20),
    periods: checkInteger('periods', options.periods ?? 4, 2, 64),
    underrun,
    idleMs: checkInteger('idleMs', options.idleMs ?? 5000, 0, 2 ** 31 - 1),
    realtime: options.realtime ?? true,
    duckGain: checkGain('duckGain', options.duckGain ?? 0.1),
    duckRampMs: checkInteger('duckRampMs', options.duckRampMs ?? 50, 0, 10_000),
    fadeMs: checkInteger('fadeMs', options.fadeMs ?? 20, 0, 10_000),
    masterGain: checkGain('masterGain', options.masterGain ?? 1),
  };
}

export class Stream extends EventEmitter {
  readonly id: number;
  #native: NativeStream;
  #result: StreamResult | undefined;
  /** Bytes per input frame: the device's, until setInputFormat says otherwise. */
  #frameBytes: number;
  /** end() was called while the ring had no room for the converter's tail: retried on 'drain'. */
  #ending = false;

  constructor(native: NativeStream, frameBytes: number) {
    super();
    this.#native = native;
    this.#frameBytes = frameBytes;
    this.id = native.id;
  }

  /**
   * The format of the frames to come, before the first write: frames in any
   * other format than the device's are converted natively on their way into
   * the ring (sample format, channel map, rate; `quality` is the resampler's,
   * 0 to 10). Throws E_INVALID_FORMAT or E_INVALID_ARG for a format the
   * converter does not take.
   */
  setInputFormat(format: InputFormat, quality = DEFAULT_RESAMPLER_QUALITY): void {
    this.#frameBytes = this.#native.setInputFormat({ ...checkInputFormat('format', format), quality: checkResamplerQuality(quality) });
  }

  /**
   * The body is compressed, before the first write: from here write() takes
   * any bytes of it, and a decode thread of the stream's own decodes and
   * converts them into the ring. Decoded audio beyond `maxSeconds` is not
   * played (the result's decode.tooLong). `inputBytes` sizes the ring of
   * body bytes between this thread and the decoder.
   */
  setInputCodec(codec: Codec, maxSeconds: number, options: { quality?: number; inputBytes?: number } = {}): void {
    if (!Number.isFinite(maxSeconds) || maxSeconds <= 0) throw argumentError(`maxSeconds must be a positive number; got ${String(maxSeconds)}`);
    const inputBytes = options.inputBytes === undefined ? undefined : checkInteger('inputBytes', options.inputBytes, 64, 1 << 26);
    this.#native.setInputCodec({ codec, maxSeconds, quality: checkResamplerQuality(options.quality ?? DEFAULT_RESAMPLER_QUALITY), ...(inputBytes === undefined ? {} : { inputBytes }) });
    this.#frameBytes = 1;
  }

  /** A compressed stream's audio decoded into the ring so far, in device frames; 0 for PCM. */
  queuedFrames(): number {
    return this.#native.queuedFrames();
  }

  /** Takes what fits of `chunk` (whole input frames; any bytes of a compressed body) into the ring, converted; returns the frames (bytes) taken. Never blocks. */
  write(chunk: Uint8Array): number {
    return this.#native.write(chunk);
  }

  /** Writes all of `chunk`, waiting for room. Resolves to false if the stream ended meanwhile. */
  async writeAll(chunk: Uint8Array): Promise<boolean> {
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (this.#result) return false;
      offset += this.write(chunk.subarray(offset)) * this.#frameBytes;
      if (offset < chunk.byteLength && !(await this.#room())) return false;
    }
    return true;
  }

  // Resolves true on 'drain', false on 'done', and leaves no listener behind:
  // a writer may wait thousands of times per stream.
  #room(): Promise<boolean> {
    return new Promise((resolve) => {
      const onDrain = () => {
        this.off('done', onDone);
        resolve(true);
      };
      const onDone = () => {
        this.off('drain', onDrain);
        resolve(false);
      };
      this.once('drain', onDrain);
      this.once('done', onDone);
    });
  }

  /** No more frames: the stream plays out what it has (a resampler's tail included), then emits done. */
  end(): void {
    this.#ending = !this.#native.end();
  }

  /** Stops at once, dropping what is buffered. */
  abort(): void {
    this.#native.abort();
  }

  /** Stops after a fade (the device's fadeMs) over what the ring holds; takes no more input. Done follows with outcome "aborted". */
  cut(): void {
    this.#native.cut();
  }

  /** For a stream to be cut at a length cap, before its last frames are written: they fade out at end(). */
  fadeTail(): void {
    this.#native.fadeTail();
  }

  /** Sets the client's gain (linear); a playing stream ramps to it over 20 ms. */
  setGain(gain: number): void {
    this.#native.setGain(checkGain('gain', gain));
  }

  /** Pauses (a fade out, then held where it is, its producer held by backpressure) or resumes (a fade in from there). */
  setPaused(paused: boolean): void {
    if (typeof paused !== 'boolean') throw argumentError(`paused must be a boolean; got ${String(paused)}`);
    this.#native.setPaused(paused);
  }

  stats(): StreamStats {
    return this.#native.stats();
  }

  /** The stream's final counts, once done. */
  get result(): StreamResult | undefined {
    return this.#result;
  }

  /** Resolves with the final counts when the stream is done. */
  async finished(): Promise<StreamResult> {
    if (this.#result) return this.#result;
    const [result] = (await once(this, 'done')) as [StreamResult];
    return result;
  }

  #duckFlips = 0;
  #pauseFlips = 0;

  /** @internal */
  deliver(type: string, detail: unknown): void {
    if (type === 'done') this.#result = detail as StreamResult;
    if (type === 'drain' && this.#ending) this.end();
    if (type === 'level') {
      // Every flip since the last batch, in turn: odd counts are ducked, paused.
      const { duckFlips, pauseFlips } = detail as { duckFlips: number; pauseFlips: number };
      while (this.#duckFlips < duckFlips) this.emit(++this.#duckFlips % 2 === 1 ? 'ducked' : 'unducked');
      while (this.#pauseFlips < pauseFlips) this.emit(++this.#pauseFlips % 2 === 1 ? 'paused' : 'resumed');
      return;
    }
    if (type === 'done' || type === 'drain' || type === 'underrun' || type === 'started') this.emit(type, detail);
  }
}

export class Device extends EventEmitter {
  readonly info: DeviceInfo;
  #native: NativeDevice;
  #streams = new Map<number, Stream>();

  /** @internal */
  constructor(native: NativeDevice) {
    super();
    this.#native = native;
    this.info = native.info;
  }

  createStream(options: StreamOptions = {}): Stream {
    const native: NativeStreamOptions = { gain: checkGain('gain', options.gain ?? 1) };
    if (options.ringFrames !== undefined) native.ringFrames = checkInteger('ringFrames', options.ringFrames, 1, 1 << 26);
    if (options.priority !== undefined) {
      native.priority = PRIORITIES.indexOf(options.priority);
      if (native.priority < 0) throw argumentError(`priority must be one of ${PRIORITIES.join(', ')}; got ${String(options.priority)}`);
    }
    if (options.follows !== undefined) {
      if (!(options.follows instanceof Stream)) throw argumentError('follows must be a Stream of this device');
      native.follows = options.follows.id;
    }
    if (options.at !== undefined) {
      if (typeof options.at !== 'number' || !Number.isFinite(options.at) || options.at <= 0) throw argumentError(`at must be a positive number of Unix ms; got ${String(options.at)}`);
      const late = options.late ?? 'skip';
      if (late !== 'skip' && late !== 'play') throw argumentError(`late must be "skip" or "play"; got ${String(late)}`);
      native.at = options.at;
      native.late = late;
    }
    const stream = new Stream(this.#native.createStream(native), this.info.frameBytes);
    this.#streams.set(stream.id, stream);
    return stream;
  }

  /** The software master volume, linear: every frame mixed is scaled by it, ramped over 20 ms. */
  setMasterGain(gain: number): void {
    this.#native.setMasterGain(checkGain('gain', gain));
  }

  stats(): DeviceStats {
    return this.#native.stats();
  }

  /** Stops the playback thread and closes the PCM, off the JS thread. Streams still open end as "closed". */
  close(): Promise<void> {
    return this.#native.close();
  }

  /** @internal */
  dispatch(events: NativeEvent[]): void {
    for (const event of events) {
      try {
        this.#deliver(event);
      } catch (error) {
        // A listener's bug is an uncaught exception, as from any emitter,
        // but not at the cost of the batch's other events: a stream whose
        // 'done' were dropped would hold its client for good.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  #deliver([type, streamId, detail]: NativeEvent): void {
    if (streamId === 0) {
      // 'error' only when someone listens: a lost device must not crash
      // the process, it is reported through stats and the streams too.
      if (type !== 'error' || this.listenerCount('error') > 0) this.emit(type, detail);
      return;
    }
    const stream = this.#streams.get(streamId);
    if (!stream) return;
    if (type === 'done') this.#streams.delete(streamId);
    try {
      stream.deliver(type, detail);
    } finally {
      // For whoever waits to close a device its streams still play on.
      if (type === 'done' && this.#streams.size === 0) this.emit('idle');
    }
  }
}

async function open(opener: (dispatch: Dispatch) => Promise<NativeDevice>): Promise<Device> {
  let device: Device | undefined;
  const early: NativeEvent[] = [];
  const native = await opener((events) => (device ? device.dispatch(events) : early.push(...events)));
  device = new Device(native);
  if (early.length > 0) {
    const events = early.splice(0);
    setImmediate(() => device?.dispatch(events));
  }
  return device;
}

/**
 * Merges ALSA configuration text over alsa.conf exactly as openDevice does
 * with its alsaConfig, and drops the result: nothing is opened. Empty text is
 * valid (it adds nothing).
 */
export function checkAlsaConfig(text: string): AlsaConfigCheck {
  if (typeof text !== 'string') throw argumentError('checkAlsaConfig() needs ALSA configuration text');
  return native.checkAlsaConfig(text);
}

/** Opens an ALSA PCM for mmap playback. Rejects with a NativeError (code E_ALSA_OPEN, errno, alsa-lib's messages) on failure. */
export function openDevice(options: DeviceOptions): Promise<Device> {
  if (typeof options !== 'object' || options === null) throw argumentError('openDevice() needs an options object');
  if (typeof options.pcm !== 'string' || options.pcm.length === 0) {
    throw argumentError('pcm must be a non-empty ALSA PCM name');
  }
  if (options.alsaConfig !== undefined && typeof options.alsaConfig !== 'string') {
    throw argumentError('alsaConfig must be ALSA configuration text');
  }
  const checked = { ...checkFormat(options), pcm: options.pcm, ...(options.alsaConfig ? { alsaConfig: options.alsaConfig } : {}) };
  return open((dispatch) => native.openDevice(checked, dispatch));
}

/** The clock sink's test hooks (native/src/clock_sink.h). */
export interface ClockSinkOptions extends PlaybackFormat {
  /** Consume this many parts per million faster (negative: slower) than the rate, as a cheap crystal does. */
  ppm?: number;
  /** A file that gets one line per period consumed: `<CLOCK_REALTIME ns> <frames consumed since open>`. */
  timeline?: string;
}

/** Opens the built-in clock sink: a PCM that consumes frames in real time and plays them nowhere (headless mode). */
export function openClockSink(options: ClockSinkOptions = {}): Promise<Device> {
  if (typeof options !== 'object' || options === null) throw argumentError('openClockSink() needs an options object');
  const ppm = options.ppm ?? 0;
  if (typeof ppm !== 'number' || !(Math.abs(ppm) <= MAX_CLOCK_PPM)) {
    throw argumentError(`ppm must be a number from -${MAX_CLOCK_PPM} to ${MAX_CLOCK_PPM}; got ${String(ppm)}`);
  }
  const timeline = options.timeline ?? '';
  if (typeof timeline !== 'string' || timeline.includes('\0')) throw argumentError('timeline must be a file path');
  const checked = { ...checkFormat(options), pcm: 'speakerd-clock', ppm, timeline };
  return open((dispatch) => native.openClockSink(checked, dispatch));
}

