// The engine's streams as telemetry records them: each admitted stream gets
// a span, and its playback runs in the span's context so that its log lines
// carry the trace ids; each is counted by outcome when it ends, and each
// refused POST is counted too.
import { context as contexts } from '@opentelemetry/api';
import type { PlaybackObserver } from '../engine/playback';
import type { ServiceMetrics } from './metrics';
import { StreamSpan } from './stream-span';

export function streamTelemetry(metrics: ServiceMetrics): PlaybackObserver {
  return {
    rejected: (code) => metrics.streamRejected(code),
    admitted(stream) {
      const span = new StreamSpan(stream);
      metrics.streamAdmitted(stream);
      return {
        run: (play) => contexts.with(span.context, play),
        ended(end) {
          metrics.streamEnded(end, stream);
          span.end(end);
        },
      };
    },
  };
}
