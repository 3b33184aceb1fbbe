// Every error speakerd answers with, in one table, as Fastify's
// lib/errors.js is for Fastify: a situation's name → its stable code, its
// HTTP status, how its message reads and what the client should do (the
// hint), and Retry-After where trying again makes sense. Code anywhere else
// names the situation and hands over its details:
//
//   throw failure('STREAM_IDLE', { periodFrames, idleTimeoutMs, played })
//
// and never picks a status or words a hint. One code may serve several
// situations (E_SHUTTING_DOWN: refused at admission, cut mid-stream, a
// draining probe), each with the words its reader needs. Where a hint must
// name what was wrong in the request (a WAV field, a raw-PCM parameter), the
// format that found it passes it as a detail.
import { SpeakerdError, type ErrorBody } from './errors';

interface Situation<P> {
  code: string;
  status: number;
  message: (details: P) => string;
  hint: string | ((details: P) => string);
  retryAfterSeconds?: (details: P) => number;
}

const situation = <P = void>(spec: Situation<P>): Situation<P> => spec;

/** What a client is told about the frames of a stream that ended early. */
interface Played {
  played: string;
}

/** Details a format or the framework words itself, with its own hint. */
interface Worded {
  message: string;
  hint: string;
}

const DEVICE_LOST_HINT = 'speakerd reopens the device by itself; send the stream again when /readyz answers 200';
const REQUEST_HINT = 'see the API in README.md';

export const ERRORS = {
  // The request itself.
  BAD_HTTP: situation<{ reason: string }>({
    code: 'E_BAD_HTTP',
    status: 400,
    message: ({ reason }) => `the request is not valid HTTP/1.1: ${reason}`,
    hint: "check the client: the request line, the headers, and the body's framing (Content-Length or chunked, not both)",
  }),
  NO_HOST: situation({
    code: 'E_BAD_HTTP',
    status: 400,
    message: () => 'the request is not valid HTTP/1.1: it has no Host header',
    hint: 'send a Host header, as every HTTP/1.1 client does',
  }),
  HEADERS_TIMEOUT: situation<{ headersTimeoutMs: number }>({
    code: 'E_HEADERS_TIMEOUT',
    status: 408,
    message: ({ headersTimeoutMs }) => `the request's headers did not arrive within HEADERS_TIMEOUT_MS=${headersTimeoutMs} ms`,
    hint: 'send the whole request head at once',
  }),
  HEADERS_TOO_LARGE: situation({
    code: 'E_HEADERS_TOO_LARGE',
    status: 431,
    message: () => "the request's headers are larger than the server takes (16 KiB)",
    hint: 'send fewer or shorter headers',
  }),
  TOO_MANY_CONNECTIONS: situation({
    code: 'E_TOO_MANY_CONNECTIONS',
    status: 503,
    message: () => 'every connection this instance takes (MAX_CONNECTIONS) has a request in flight',
    hint: 'retry later, or raise MAX_CONNECTIONS',
    retryAfterSeconds: () => 1,
  }),
  BAD_URL: situation<{ url: string }>({
    code: 'E_BAD_URL',
    status: 400,
    message: ({ url }) => `the URL ${url} is not valid (bad percent-encoding)`,
    hint: REQUEST_HINT,
  }),
  PARAMETER_TOO_LONG: situation({ code: 'E_BAD_URL', status: 414, message: () => 'a path parameter is too long', hint: REQUEST_HINT }),
  BAD_CONTENT_LENGTH: situation({
    code: 'E_BAD_REQUEST',
    status: 400,
    message: () => 'the Content-Length does not match the body',
    hint: "send the body's exact length, or use chunked transfer encoding",
  }),
  /** A 4xx the framework raised that no situation above names: its status is kept, never its code. */
  BAD_REQUEST: situation<{ status: number; message: string }>({ code: 'E_BAD_REQUEST', status: 400, message: ({ message }) => message, hint: REQUEST_HINT }),
  INVALID_QUERY: situation<{ message: string }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ message }) => message,
    hint: 'see the API in README.md for the parameters and their ranges',
  }),
  INVALID_GAIN: situation<{ value: string; min: number; max: number }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ value, min, max }) => `gain must be a decimal number of dB from ${min} to ${max}; got ${JSON.stringify(value)}`,
    hint: 'send ?gain= as a plain decimal such as -6 or 3.5',
  }),
  INVALID_AT: situation<{ value: string }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ value }) => `at must be an RFC 3339 time such as 2026-12-03T14:00:00.250Z, or Unix milliseconds; got ${JSON.stringify(value)}`,
    hint: 'send ?at= as the wall-clock time the first frame must play, with its offset (Z for UTC)',
  }),
  AT_TOO_FAR: situation<{ value: string; aheadS: number; maxAheadS: number }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ value, aheadS, maxAheadS }) => `at ${value} is ${aheadS.toFixed(1)} s ahead, more than MAX_AT_AHEAD_S=${maxAheadS}`,
    hint: 'send the stream closer to its time, or raise MAX_AT_AHEAD_S; check that the clocks of client and node agree',
  }),
  INVALID_LATE: situation<{ value: string; allowed: readonly string[] }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ value, allowed }) => `late must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`,
    hint: 'skip joins at the frame that belongs to now, play starts from the first frame at once, reject answers 409',
  }),
  LATE_WITHOUT_AT: situation<Record<string, never>>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: () => 'late applies only to a stream with at',
    hint: 'send ?at= with ?late=, or leave ?late= out',
  }),
  TIMED_QUEUE: situation<{ queue: string }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ queue }) => `a stream cannot both start at a time (at) and wait in a queue (queue=${queue})`,
    hint: 'leave out ?queue= for a timed stream, or ?at= for a queued one',
  }),
  TOO_LATE: situation<{ value: string; lateMs: number }>({
    code: 'E_TOO_LATE',
    status: 409,
    message: ({ value, lateMs }) => `at ${value} passed ${Math.round(lateMs)} ms before the stream arrived, and late=reject`,
    hint: 'send timed streams ahead of their time (BROADCAST_LEAD_MS does), or use late=skip to join in sync',
  }),
  TIMING_NEEDS_SILENCE: situation<Record<string, never>>({
    code: 'E_TIMING_UNSUPPORTED',
    status: 409,
    message: () => 'this device plays under AUDIO_UNDERRUN=wait, which never inserts the silence a timed start waits in',
    hint: 'use AUDIO_UNDERRUN=silence (the default for sound cards) to play streams at a time',
  }),
  NO_PEERS: situation<{ name: string; reason: string }>({
    code: 'E_NO_PEERS',
    status: 503,
    message: ({ name, reason }) => `no peer to broadcast to: PEERS_DNS=${name} does not resolve (${reason})`,
    hint: 'create the headless Service (k8s/base/peers-service.yaml) or list the peers in PEERS=host:port,...',
  }),
  // POST /v1/broadcast's report of one peer (the answer itself is 200).
  PEER_BEHIND: situation<{ stallMs: number }>({
    code: 'E_PEER_BEHIND',
    status: 504,
    message: ({ stallMs }) => `the peer took nothing for ${stallMs} ms while the others played on`,
    hint: 'check the peer: its device, its load, its network',
  }),
  PEER_UNREACHABLE: situation<{ reason: string }>({
    code: 'E_PEER_UNREACHABLE',
    status: 502,
    message: ({ reason }) => `the connection to the peer failed: ${reason}`,
    hint: 'check that the peer runs and that the NetworkPolicy lets speakerd reach it',
  }),
  PEER_ANSWER: situation<{ status: number }>({
    code: 'E_PEER_ANSWER',
    status: 502,
    message: ({ status }) => `the peer answered ${status} without an error body`,
    hint: 'check that the peer is speakerd, on the port PEERS or PORT says',
  }),
  INVALID_PRIORITY: situation<{ value: string; allowed: readonly string[] }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ value, allowed }) => `priority must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`,
    hint: 'send ?priority=announcement for announcements, alarm for what must interrupt everything, background for music under them',
  }),
  INVALID_QUEUE: situation<{ value: string }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ value }) => `queue must be 1 to 64 letters, digits, '.', '_' or '-'; got ${JSON.stringify(value)}`,
    hint: 'name the queue as the client knows it, such as ?queue=tts',
  }),
  INVALID_CONTROL: situation<{ reason: string }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ reason }) => reason,
    hint: 'send JSON such as {"gainDb": -6} or {"paused": true}',
  }),
  INVALID_VOLUME: situation<{ reason: string }>({
    code: 'E_INVALID_PARAMETER',
    status: 400,
    message: ({ reason }) => reason,
    hint: 'send JSON such as {"db": -12} or {"muted": true}; GET /v1/volume gives the range',
  }),
  NOT_FOUND: situation<{ method: string; url: string }>({
    code: 'E_NOT_FOUND',
    status: 404,
    message: ({ method, url }) => `no route for ${method} ${url}`,
    hint: REQUEST_HINT,
  }),
  PROBE_PORT_ONLY: situation<{ routes: string; method: string; url: string }>({
    code: 'E_NOT_FOUND',
    status: 404,
    message: ({ routes, method, url }) => `the probe port (PROBE_PORT) answers only ${routes}, not ${method} ${url}`,
    hint: 'send API requests and scrapes to PORT',
  }),
  UNAUTHORIZED: situation<{ wrongToken: boolean }>({
    code: 'E_UNAUTHORIZED',
    status: 401,
    message: ({ wrongToken }) => (wrongToken ? 'the bearer token is wrong' : 'this endpoint needs an Authorization: Bearer header'),
    hint: 'send Authorization: Bearer <AUTH_TOKEN>',
  }),
  METRICS_DISABLED: situation({
    code: 'E_METRICS_DISABLED',
    status: 404,
    message: () => 'metrics are off: OTEL_SDK_DISABLED=true',
    hint: 'unset OTEL_SDK_DISABLED to serve /metrics',
  }),

  // The body's format.
  UNRECOGNIZED_BODY: situation<{ found: string; hint: string }>({
    code: 'E_UNSUPPORTED_MEDIA_TYPE',
    status: 415,
    message: ({ found }) => `the request declares no audio type, and its body is ${found}`,
    hint: ({ hint }) => hint,
  }),
  FORMAT_MISMATCH: situation<{ contentType: string; expected: string; found: string }>({
    code: 'E_FORMAT_MISMATCH',
    status: 400,
    message: ({ contentType, expected, found }) => `the Content-Type ${contentType} declares ${expected}, but the body is ${found}`,
    hint: 'send the Content-Type of what the body is, or application/octet-stream to let speakerd tell from the first bytes',
  }),
  DECODE_FAILED: situation<{ message: string; played: string }>({
    code: 'E_DECODE_FAILED',
    status: 400,
    message: ({ message, played }) => `${message}; ${played}`,
    hint: 'check the file with its reference decoder (flac -t, opusinfo, ogginfo, mpg123 -t), or re-encode it',
  }),
  FORMAT_CHANGED: situation<{ message: string; played: string }>({
    code: 'E_FORMAT_CHANGED',
    status: 400,
    message: ({ message, played }) => `${message}; ${played}`,
    hint: 'send each part with its own rate and channel count as a stream of its own, or re-encode the file to one format',
  }),
  UNSUPPORTED_CONTENT_TYPE: situation<{ contentType: string; hint: string }>({
    code: 'E_UNSUPPORTED_MEDIA_TYPE',
    status: 415,
    message: ({ contentType }) => `unsupported content type ${contentType}`,
    hint: ({ hint }) => hint,
  }),
  NOT_A_MEDIA_TYPE: situation<{ contentType: string; hint: string }>({
    code: 'E_UNSUPPORTED_MEDIA_TYPE',
    status: 415,
    message: ({ contentType }) => `the Content-Type ${contentType} is not a media type`,
    hint: ({ hint }) => hint,
  }),
  INVALID_FORMAT_PARAMETER: situation<Worded>({ code: 'E_INVALID_PARAMETER', status: 400, message: ({ message }) => message, hint: ({ hint }) => hint }),
  INVALID_WAV: situation<Worded>({ code: 'E_INVALID_WAV', status: 400, message: ({ message }) => message, hint: ({ hint }) => hint }),
  UNSUPPORTED_ENCODING: situation<Worded>({ code: 'E_UNSUPPORTED_ENCODING', status: 400, message: ({ message }) => message, hint: ({ hint }) => hint }),

  // Admission.
  SHUTTING_DOWN: situation({
    code: 'E_SHUTTING_DOWN',
    status: 503,
    message: () => 'speakerd is shutting down and takes no new streams',
    hint: 'send the stream to another instance, or retry after the restart',
  }),
  DRAINING: situation({
    code: 'E_SHUTTING_DOWN',
    status: 503,
    message: () => 'speakerd is shutting down and takes no new streams',
    hint: 'nothing to do: the pod is being replaced',
  }),
  NOT_READY: situation({
    code: 'E_NOT_READY',
    status: 503,
    message: () => 'the audio device is still being opened',
    hint: 'retry when /readyz answers 200',
    retryAfterSeconds: () => 1,
  }),
  STARTING: situation({
    code: 'E_NOT_READY',
    status: 503,
    message: () => 'the audio device is still being opened',
    hint: 'wait: the startup probe allows for a slow card (AUDIO_OPEN_TIMEOUT_MS)',
  }),
  DEVICE_LOST: situation<{ since: Date; cause: { code: string; message: string }; attempts: number; nextAttemptAt: Date | null | undefined; now: number }>({
    code: 'E_DEVICE_LOST',
    status: 503,
    message: ({ since, cause, attempts }) => `the audio device was lost ${since.toISOString()} (${cause.code}: ${cause.message}); ${attempts} reopen attempt(s) so far`,
    hint: DEVICE_LOST_HINT,
    retryAfterSeconds: ({ nextAttemptAt, now }) => (nextAttemptAt ? Math.max(1, Math.ceil((nextAttemptAt.getTime() - now) / 1000)) : 1),
  }),
  DEVICE_JUST_LOST: situation<{ cause: { code: string; message: string } }>({
    code: 'E_DEVICE_LOST',
    status: 503,
    message: ({ cause }) => `the audio device was just lost (${cause.code}: ${cause.message})`,
    hint: DEVICE_LOST_HINT,
    retryAfterSeconds: () => 1,
  }),
  TOO_MANY_STREAMS: situation<{ playing: number; maxStreams: number }>({
    code: 'E_TOO_MANY_STREAMS',
    status: 429,
    message: ({ playing, maxStreams }) => `${playing} streams are already playing, the most this instance mixes (MAX_STREAMS=${maxStreams})`,
    hint: 'retry after the number of seconds in Retry-After, or raise MAX_STREAMS',
    retryAfterSeconds: () => 1,
  }),
  STREAM_QUEUED: situation<{ id: string }>({
    code: 'E_STREAM_QUEUED',
    status: 409,
    message: ({ id }) => `stream ${id} is still waiting in its queue: only a stream that plays can be paused or have its gain changed`,
    hint: 'wait for its "admitted" event on GET /v1/events, or DELETE it to take it out of the queue',
  }),
  VOLUME_NOT_APPLIED: situation<{ cause: string }>({
    code: 'E_VOLUME_NOT_APPLIED',
    status: 503,
    message: ({ cause }) => `the card's mixer could not be set: ${cause}`,
    hint: 'the level is kept and given to the card when it is back; GET /v1/device says what happened to it',
    retryAfterSeconds: () => 1,
  }),
  TOO_MANY_QUEUED: situation<{ queued: number; maxQueued: number }>({
    code: 'E_TOO_MANY_QUEUED',
    status: 429,
    message: ({ queued, maxQueued }) => `${queued} streams already wait in queues, the most this instance holds (MAX_QUEUED=${maxQueued})`,
    hint: 'retry after the number of seconds in Retry-After, or raise MAX_QUEUED',
    retryAfterSeconds: () => 1,
  }),
  STREAM_NOT_FOUND: situation<{ id: string }>({
    code: 'E_STREAM_NOT_FOUND',
    status: 404,
    message: ({ id }) => `no stream ${id} is playing or queued`,
    hint: 'GET /v1/streams lists the streams that are playing or queued',
  }),

  // A stream that ends early; `played` says how far it got.
  CLIENT_GONE: situation<Played>({ code: 'E_CLIENT_GONE', status: 499, message: ({ played }) => `the client went away; ${played} before the stream was stopped`, hint: 'nothing to do' }),
  DEVICE_LOST_DURING_STREAM: situation<Played>({
    code: 'E_DEVICE_LOST',
    status: 503,
    message: ({ played }) => `the audio device was lost during the stream; ${played}`,
    hint: DEVICE_LOST_HINT,
  }),
  STREAM_STOPPED: situation<Played & { id: string }>({
    code: 'E_STREAM_STOPPED',
    status: 409,
    message: ({ id, played }) => `the stream was stopped by DELETE /v1/streams/${id}; ${played}`,
    hint: 'nothing to do: someone stopped it on purpose',
  }),
  CUT_BY_SHUTDOWN: situation<Played>({
    code: 'E_SHUTTING_DOWN',
    status: 503,
    message: ({ played }) => `speakerd shut down during the stream; ${played}`,
    hint: 'send the rest to another instance, or retry after the restart',
  }),
  STREAM_IDLE: situation<Played & { periodFrames: number; idleTimeoutMs: number }>({
    code: 'E_STREAM_IDLE',
    status: 408,
    message: ({ periodFrames, idleTimeoutMs, played }) =>
      `the audio did not advance by a period (${periodFrames} device frames) in STREAM_IDLE_TIMEOUT_MS=${idleTimeoutMs} ms of waiting for the body; ${played}`,
    hint: 'send the body at least as fast as it plays, without pauses longer than STREAM_IDLE_TIMEOUT_MS',
  }),
  STREAM_TOO_SLOW: situation<Played & { maxWallSeconds: number }>({
    code: 'E_STREAM_TOO_SLOW',
    status: 408,
    message: ({ maxWallSeconds, played }) => `the stream took longer than MAX_STREAM_WALL_SECONDS=${maxWallSeconds} s of wall-clock time; ${played}`,
    hint: 'send the body at least as fast as it plays, or split it into shorter streams',
  }),
  STREAM_TOO_LONG: situation<Played & { maxSeconds: number }>({
    code: 'E_STREAM_TOO_LONG',
    status: 413,
    message: ({ maxSeconds, played }) => `the stream is longer than MAX_STREAM_SECONDS=${maxSeconds}; the first ${played}`,
    hint: 'split the audio into shorter streams, or raise MAX_STREAM_SECONDS',
  }),

  // speakerd itself.
  DEVICE_LOST_FOR_GOOD: situation<{ since: Date; cause: { code: string; message: string }; attempts: number; seconds: number }>({
    code: 'E_DEVICE_LOST_FOR_GOOD',
    status: 503,
    message: ({ since, cause, attempts, seconds }) =>
      `the audio device was lost ${since.toISOString()} (${cause.code}: ${cause.message}) and ${attempts} reopen attempt(s) in AUDIO_LOST_RESTART_S=${seconds} s failed`,
    hint: "a restart gets the node's current device nodes and decides the mode again: the kubelet restarts the pod on this answer. If the card is gone for good, check the node (/proc/asound/cards); AUDIO_LOST_RESTART_S=0 keeps waiting in this process instead",
  }),
  INTERNAL: situation({ code: 'E_INTERNAL', status: 500, message: () => 'speakerd failed unexpectedly; the log has the details', hint: 'report this with the log lines around it' }),
} as const;

export type SituationName = keyof typeof ERRORS;
type DetailsOf<S extends SituationName> = (typeof ERRORS)[S] extends Situation<infer P> ? P : never;
type DetailsArgument<S extends SituationName> = DetailsOf<S> extends void ? [] : [details: DetailsOf<S>];

/** The SpeakerdError for a situation, with its details. */
export function failure<S extends SituationName>(name: S, ...[details]: DetailsArgument<S>): SpeakerdError {
  const spec = ERRORS[name] as Situation<DetailsOf<S>>;
  const given = details as DetailsOf<S>;
  const hint = typeof spec.hint === 'string' ? spec.hint : spec.hint(given);
  // The one situation whose status is the framework's, not ours.
  const status = name === 'BAD_REQUEST' ? (given as DetailsOf<'BAD_REQUEST'>).status : spec.status;
  return new SpeakerdError(spec.code, status, spec.message(given), hint, spec.retryAfterSeconds?.(given));
}

/** The documented body for a situation, for answers that are not thrown (probes, raw sockets). */
export function errorBody<S extends SituationName>(name: S, ...details: DetailsArgument<S>): ErrorBody['error'] {
  return failure(name, ...details).toBody().error;
}
