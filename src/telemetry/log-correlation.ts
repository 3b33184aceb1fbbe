// Puts the active span's ids on every pino line written inside a request or
// a stream, under the names of OpenTelemetry's log data model, so that a log
// line leads to its trace and back.
import { context, isSpanContextValid, trace } from '@opentelemetry/api';

export function traceIds(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const ids = span.spanContext();
  if (!isSpanContextValid(ids)) return {};
  return { trace_id: ids.traceId, span_id: ids.spanId, trace_flags: `0${ids.traceFlags.toString(16)}`.slice(-2) };
}
