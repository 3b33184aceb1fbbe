// How one played stream (a POST /v1/streams) ended: the outcome the engine
// reports to its observers, which the metrics count and the span records.
// Not the playback thread's own account (native.ts's RetireReason).
import type { SpeakerdError } from '../errors';
import type { StreamResult } from './native';

/** How a POST /v1/streams ended, for speakerd.streams.finished. */
export type PlayOutcome = 'ok' | 'aborted' | 'stopped' | 'timeout' | 'device_lost' | 'rejected';

/** Maps the error code an admitted stream ended with (none: it played) to its outcome. */
export function outcomeOf(code: string | undefined): PlayOutcome {
  if (code === undefined) return 'ok';
  switch (code) {
    case 'E_CLIENT_GONE':
      return 'aborted';
    case 'E_STREAM_IDLE':
    case 'E_STREAM_TOO_SLOW':
      return 'timeout';
    case 'E_DEVICE_LOST':
      return 'device_lost';
    // Cut on purpose: by DELETE, by MAX_STREAM_SECONDS, by shutdown.
    case 'E_STREAM_STOPPED':
    case 'E_STREAM_TOO_LONG':
    case 'E_SHUTTING_DOWN':
      return 'stopped';
    // A body that turned out not to be playable audio.
    default:
      return 'rejected';
  }
}

export interface StreamEnd {
  outcome: PlayOutcome;
  /** The playback thread's account; undefined when it never ran. */
  result: StreamResult | undefined;
  /** First body byte → first frame committed to ALSA. */
  firstFrameMs: number | undefined;
  truncated?: boolean;
  error?: SpeakerdError;
}
