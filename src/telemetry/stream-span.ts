// A trace span per played stream, child of the request's HTTP span: events
// for the first frame, underruns and device xruns while it plays, and the
// stream's summary as attributes when it ends. Log lines written while the
// stream plays carry this span's ids (run the playback in `context`).
import { context as contexts, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { StreamEnd } from '../engine/play-outcome';
import type { AdmittedStream } from '../engine/playback';
import { codecOf } from './metrics';

const tracer = trace.getTracer('speakerd');

/** A CLOCK_MONOTONIC stamp (process.hrtime ns) as wall-clock ms, for a span event's time. */
function wallClockMs(monotonicNs: number): number {
  return Date.now() - (Number(process.hrtime.bigint()) - monotonicNs) / 1e6;
}

export class StreamSpan {
  readonly #span: Span;
  readonly #stream: AdmittedStream;
  /** The active context with this span in it, for the playback's log lines. */
  readonly context: Context;

  constructor(stream: AdmittedStream) {
    this.#stream = stream;
    this.#span = tracer.startSpan('speakerd.stream', {
      attributes: {
        'speakerd.stream.id': stream.id,
        ...(stream.name ? { 'speakerd.stream.name': stream.name } : {}),
        ...(stream.contentType ? { 'speakerd.stream.content_type': stream.contentType } : {}),
        'speakerd.device.mode': stream.mode,
        'speakerd.device.pcm': stream.device.pcm,
        'speakerd.stream.priority': stream.priority,
        ...(stream.queue !== undefined ? { 'speakerd.stream.queue': stream.queue, 'speakerd.stream.queued_ms': stream.queuedMs } : {}),
      },
    });
    this.context = trace.setSpan(contexts.active(), this.#span);
    // Both arrive in the native event batches the engine already delivers;
    // the engine removes the listeners when the stream is released.
    stream.onUnderrun((count) => this.#span.addEvent('underrun', { 'speakerd.stream.underruns': count }));
    stream.onXrun((count) => this.#span.addEvent('xrun', { 'speakerd.device.xruns': count }));
    stream.onControl((change) => this.#span.addEvent(change));
  }

  end({ outcome, result, firstFrameMs, truncated, error }: StreamEnd): void {
    const span = this.#span;
    if (result && result.firstCommitNs > 0 && firstFrameMs !== undefined) {
      span.addEvent('first_frame', { 'speakerd.stream.first_frame_ms': firstFrameMs }, wallClockMs(result.firstCommitNs));
    }
    const format = this.#stream.format;
    span.setAttributes({
      'speakerd.stream.outcome': outcome,
      ...(result ? { 'speakerd.stream.ducked_ms': result.duckedMs, 'speakerd.stream.paused_ms': result.pausedMs } : {}),
      ...(result ? { 'speakerd.stream.frames': result.frames, 'speakerd.stream.seconds': result.frames / this.#stream.device.rate, 'speakerd.stream.underruns': result.underruns, 'speakerd.stream.codec': codecOf(result) } : {}),
      ...(result?.decode ? { 'speakerd.stream.decode_errors': result.decode.decodeErrors } : {}),
      ...(truncated !== undefined ? { 'speakerd.stream.truncated': truncated } : {}),
      ...(format ? { 'speakerd.stream.input.rate': format.rate, 'speakerd.stream.input.channels': format.channels, 'speakerd.stream.input.format': format.sampleFormat } : {}),
    });
    if (error) {
      span.setAttribute('error.type', error.code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.code}: ${error.message}` });
    }
    span.end();
  }
}
