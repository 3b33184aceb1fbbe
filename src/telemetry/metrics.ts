// speakerd's own metrics. Counters that the playback thread keeps (frames,
// underruns, xruns, ring fill) are read when a reader collects, through
// observable instruments: nothing is added to the playback path. Through
// @opentelemetry/api, so with the SDK disabled every call is a no-op.
import { metrics, type Meter } from '@opentelemetry/api';
import type { AudioEngine, DeviceMode } from '../engine/engine';
import type { PlayOutcome, StreamEnd } from '../engine/play-outcome';
import type { AdmittedStream } from '../engine/playback';

// First-frame latency is a few milliseconds when all is well; the buckets
// resolve the design's bound (one period + 2 ms: 7.3 ms at 256 frames,
// 23.3 ms at 1024) and show the tail beyond it.
const FIRST_FRAME_BUCKETS_S = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

const DEVICE_MODES: readonly DeviceMode[] = ['device', 'headless'];

// A queue's wait is a stream's length or so: seconds to minutes.
const QUEUE_WAIT_BUCKETS_S = [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];

export class ServiceMetrics {
  readonly #finished;
  readonly #firstFrame;
  readonly #decodeErrors;
  readonly #queueWait;
  readonly #ducked;
  readonly #paused;

  constructor(engine: AudioEngine, meter: Meter = metrics.getMeter('speakerd')) {
    this.#finished = meter.createCounter('speakerd.streams.finished', {
      description: 'Streams finished (POST /v1/streams answered), by outcome; error.type is the error code',
      unit: '{stream}',
    });
    this.#decodeErrors = meter.createCounter('speakerd.stream.decode_errors', {
      description: 'Corrupt frames or packets skipped in compressed bodies, by codec',
      unit: '{frame}',
    });
    this.#firstFrame = meter.createHistogram('speakerd.stream.first_frame.duration', {
      description: 'From the first body byte to the first frame committed to ALSA, stamped on the playback thread',
      unit: 's',
      advice: { explicitBucketBoundaries: FIRST_FRAME_BUCKETS_S },
    });

    this.#queueWait = meter.createHistogram('speakerd.stream.queue.duration', {
      description: 'Time a stream of a queue (?queue=) waited for its turn before it was attached, by priority',
      unit: 's',
      advice: { explicitBucketBoundaries: QUEUE_WAIT_BUCKETS_S },
    });
    this.#ducked = meter.createCounter('speakerd.stream.ducked.time', { description: 'Time streams spent ducked under a higher class, by priority', unit: 's' });
    this.#paused = meter.createCounter('speakerd.stream.paused.time', { description: 'Time streams spent paused (by PATCH or an alarm), by priority', unit: 's' });

    meter.createObservableGauge('speakerd.streams.active', { description: 'Streams in the stream table (playing or buffering)', unit: '{stream}' })
      .addCallback((result) => result.observe(engine.streams.size));
    const frames = meter.createObservableCounter('speakerd.frames.played', { description: 'Frames of stream audio committed to ALSA, all streams (silence fill not counted)', unit: '{frame}' });
    const underruns = meter.createObservableCounter('speakerd.stream.underruns', { description: 'Times a playing stream had no frames ready when the device needed them', unit: '{underrun}' });
    meter.addBatchObservableCallback((result) => {
      const totals = engine.playedTotals();
      result.observe(frames, totals.frames);
      result.observe(underruns, totals.underruns);
    }, [frames, underruns]);
    meter.createObservableCounter('speakerd.device.xruns', { description: 'Device xruns (buffer underruns of the sound card) across reopens', unit: '{xrun}' })
      .addCallback((result) => result.observe(engine.xruns));
    // The emptiest ring warns of an underrun, the fullest of a client that
    // outruns playback. Not one series per stream: the SDK keeps reporting a
    // series after its stream is gone.
    meter.createObservableGauge('speakerd.ring.fill', { description: 'Fill (0 to 1) of the emptiest (stat=min) and the fullest (stat=max) ring among playing streams; 0 when none plays', unit: '1' })
      .addCallback((result) => {
        const { min, max } = engine.ringFill();
        result.observe(min, { 'speakerd.ring.stat': 'min' });
        result.observe(max, { 'speakerd.ring.stat': 'max' });
      });
    // Synchronized playback (design §2c): the card's drift against the system
    // clock while its device clock has a line (0 otherwise, with locked 0),
    // and how far off the wall clock the worst timed stream will play.
    const clockLocked = meter.createObservableGauge('speakerd.device.clock.locked', { description: '1 while the device clock has a line through the device\'s status reports (the device runs), else 0', unit: '1' });
    const clockDrift = meter.createObservableGauge('speakerd.device.clock.drift', { description: 'How far the card\'s sample clock runs off its nominal rate against the system clock; 0 while not locked', unit: '{ppm}' });
    const syncError = meter.createObservableGauge('speakerd.stream.sync.error', { description: 'The largest error among timed streams (?at=): how far off the wall clock the frames being written will play; 0 when none plays', unit: 's' });
    meter.addBatchObservableCallback((result) => {
      const clock = engine.device?.stats().clock;
      result.observe(clockLocked, clock?.locked ? 1 : 0);
      result.observe(clockDrift, clock?.locked ? clock.driftPpm ?? 0 : 0);
      result.observe(syncError, engine.syncErrorUs() / 1e6);
    }, [clockLocked, clockDrift, syncError]);
    // Every mode is observed every time, 1 for the one in use: a series
    // observed once is reported on (see ring fill), so a mode speakerd left
    // must read 0, not its last value.
    meter.createObservableGauge('speakerd.device.up', { description: '1 for the mode whose device (the card, or the headless clock sink) takes streams now; 0 for the other, and for both while starting or lost', unit: '1' })
      .addCallback((result) => {
        for (const mode of DEVICE_MODES) result.observe(engine.state === 'ready' && engine.mode === mode ? 1 : 0, { 'speakerd.device.mode': mode });
      });
  }

  /** A stream refused before it was admitted (bad type, 429, 503). */
  streamRejected(errorCode: string): void {
    this.#count('rejected', errorCode);
  }

  /** A stream admitted and attached (after its wait in a queue, if it had one). */
  streamAdmitted(stream: Pick<AdmittedStream, 'priority' | 'queue' | 'queuedMs'>): void {
    if (stream.queue !== undefined) this.#queueWait.record(stream.queuedMs / 1000, { 'speakerd.stream.priority': stream.priority });
  }

  streamEnded({ outcome, error, firstFrameMs, result }: StreamEnd, stream?: Pick<AdmittedStream, 'priority'>): void {
    if (firstFrameMs !== undefined) this.#firstFrame.record(firstFrameMs / 1000);
    const decode = result?.decode;
    if (decode) this.#decodeErrors.add(decode.decodeErrors, { 'speakerd.stream.codec': decode.codec });
    const priority = stream ? { 'speakerd.stream.priority': stream.priority } : {};
    if (result && result.duckedMs > 0) this.#ducked.add(result.duckedMs / 1000, priority);
    if (result && result.pausedMs > 0) this.#paused.add(result.pausedMs / 1000, priority);
    this.#count(outcome, error?.code, result && codecOf(result), stream?.priority);
  }

  #count(outcome: PlayOutcome, errorCode: string | undefined, codec?: string, priority?: string): void {
    this.#finished.add(1, {
      'speakerd.stream.outcome': outcome,
      ...(priority ? { 'speakerd.stream.priority': priority } : {}),
      ...(errorCode ? { 'error.type': errorCode } : {}),
      ...(codec ? { 'speakerd.stream.codec': codec } : {}),
    });
  }
}

/** What decoded a stream's body: its codec, or "pcm" (WAV and raw bodies). */
export function codecOf(result: NonNullable<StreamEnd['result']>): string {
  return result.decode?.codec ?? 'pcm';
}
