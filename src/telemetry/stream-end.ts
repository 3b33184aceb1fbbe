// How one POST /v1/streams ended, as the metrics and the stream's span both
// record it.
import type { StreamResult } from '../engine/native';
import type { SpeakerdError } from '../errors';

/** How a POST /v1/streams ended, for speakerd.streams.finished. */
export type StreamOutcome = 'ok' | 'aborted' | 'stopped' | 'timeout' | 'device_lost' | 'rejected';

/** Maps the error code an admitted stream ended with (none: it played) to its outcome. */
export function outcomeOf(code: string | undefined): StreamOutcome {
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
  outcome: StreamOutcome;
  /** The playback thread's account; undefined when it never ran. */
  result: StreamResult | undefined;
  /** First body byte → first frame committed to ALSA. */
  firstFrameMs: number | undefined;
  truncated?: boolean;
  error?: SpeakerdError;
}
