// Errors that Fastify raises itself (bad URLs, content types its parser
// refuses, schema validation) in speakerd's shape: a stable E_ code, a
// specific message and a hint. A Fastify code never reaches a client.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SpeakerdError } from '../errors';
import { CONTENT_TYPE_HINT } from '../formats/detect';

const REQUEST_HINT = 'see the API in README.md';

function shown(value: string | undefined): string {
  if (value === undefined) return 'none';
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

/** The SpeakerdError a client sees for `error`; undefined for a failure of speakerd's own (500). */
export function clientFacingError(error: FastifyError, request: FastifyRequest): SpeakerdError | undefined {
  if (error.validation) {
    return new SpeakerdError('E_INVALID_PARAMETER', 400, error.message, 'see the API in README.md for the parameters and their ranges');
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SpeakerdError('E_UNSUPPORTED_MEDIA_TYPE', 415, `the Content-Type ${shown(request.headers['content-type'])} is not a media type`, CONTENT_TYPE_HINT);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SpeakerdError('E_BAD_REQUEST', 400, 'the Content-Length does not match the body', 'send the body\'s exact length, or use chunked transfer encoding');
    case 'FST_ERR_BAD_URL':
      return new SpeakerdError('E_BAD_URL', 400, `the URL ${shown(request.url)} is not valid (bad percent-encoding)`, REQUEST_HINT);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new SpeakerdError('E_BAD_URL', 414, 'a path parameter is too long', REQUEST_HINT);
  }
  const status = error.statusCode ?? 500;
  if (status >= 500) return undefined;
  // One we have not met: keep its status, never its Fastify code.
  return new SpeakerdError('E_BAD_REQUEST', status, error.message, REQUEST_HINT);
}

/** The error handler (and frameworkErrors): every error in the documented shape. */
export function answerError(error: FastifyError | SpeakerdError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let failure = error instanceof SpeakerdError ? error : clientFacingError(error, request);
  if (!failure) {
    request.log.error({ err: error }, 'unexpected error');
    failure = new SpeakerdError('E_INTERNAL', 500, 'speakerd failed unexpectedly; the log has the details', 'report this with the log lines around it');
  }
  if (failure.retryAfterSeconds !== undefined) reply.header('retry-after', String(failure.retryAfterSeconds));
  return reply.code(failure.statusCode).send(failure.toBody());
}

/** RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400. */
export async function requireHostHeader(request: FastifyRequest): Promise<void> {
  if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
    throw new SpeakerdError('E_BAD_HTTP', 400, 'the request is not valid HTTP/1.1: it has no Host header', 'send a Host header, as every HTTP/1.1 client does');
  }
}
