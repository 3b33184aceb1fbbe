// A trace span per played stream, child of the request's HTTP span: events
// for the first frame, underruns and device xruns while it plays, and the
// stream's summary as attributes when it ends. Log lines written while the
// stream plays carry this span's ids (run the playback in `context`).
import { context as contexts, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { DeviceSupervisor } from '../engine/device-supervisor';
import type { StreamRecord } from '../engine/engine';
import type { StreamEnd } from './stream-end';

const tracer = trace.getTracer('speakerd');

/** A CLOCK_MONOTONIC stamp (process.hrtime ns) as wall-clock ms, for a span event's time. */
function wallClockMs(monotonicNs: number): number {
  return Date.now() - (Number(process.hrtime.bigint()) - monotonicNs) / 1e6;
}

export class StreamSpan {
  readonly #span: Span;
  readonly #record: StreamRecord;
  /** The active context with this span in it, for the playback's log lines. */
  readonly context: Context;
  readonly #detach: () => void;

  constructor(record: StreamRecord, supervisor: DeviceSupervisor, contentType: string | undefined) {
    this.#record = record;
    this.#span = tracer.startSpan('speakerd.stream', {
      attributes: {
        'speakerd.stream.id': record.id,
        ...(record.name ? { 'speakerd.stream.name': record.name } : {}),
        ...(contentType ? { 'speakerd.stream.content_type': contentType } : {}),
        'speakerd.device.mode': record.mode,
        'speakerd.device.pcm': record.device.pcm,
      },
    });
    this.context = trace.setSpan(contexts.active(), this.#span);
    // Both arrive in the native event batches the engine already delivers.
    const onUnderrun = (count: number) => this.#span.addEvent('underrun', { 'speakerd.stream.underruns': count });
    const onXrun = (count: number) => this.#span.addEvent('xrun', { 'speakerd.device.xruns': count });
    record.native.on('underrun', onUnderrun);
    supervisor.on('xrun', onXrun);
    this.#detach = () => {
      record.native.off('underrun', onUnderrun);
      supervisor.off('xrun', onXrun);
    };
  }

  end({ outcome, result, firstFrameMs, truncated, error }: StreamEnd): void {
    this.#detach();
    const span = this.#span;
    if (result && result.firstCommitNs > 0 && firstFrameMs !== undefined) {
      span.addEvent('first_frame', { 'speakerd.stream.first_frame_ms': firstFrameMs }, wallClockMs(result.firstCommitNs));
    }
    const format = this.#record.format;
    span.setAttributes({
      'speakerd.stream.outcome': outcome,
      ...(result ? { 'speakerd.stream.frames': result.frames, 'speakerd.stream.seconds': result.frames / this.#record.device.rate, 'speakerd.stream.underruns': result.underruns } : {}),
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
