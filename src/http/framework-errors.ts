// Errors that Fastify raises itself (bad URLs, content types its parser
// refuses, schema validation) in speakerd's shape: a stable E_ code, a
// specific message and a hint. A Fastify code never reaches a client.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { failure } from '../error-table';
import { SpeakerdError } from '../errors';
import { CONTENT_TYPE_HINT } from '../formats/detect';

function shown(value: string | undefined): string {
  if (value === undefined) return 'none';
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

/** The SpeakerdError a client sees for `error`; undefined for a failure of speakerd's own (500). */
export function clientFacingError(error: FastifyError, request: FastifyRequest): SpeakerdError | undefined {
  if (error.validation) {
    return failure('INVALID_QUERY', { message: error.message });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return failure('NOT_A_MEDIA_TYPE', { contentType: shown(request.headers['content-type']), hint: CONTENT_TYPE_HINT });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return failure('BAD_CONTENT_LENGTH');
    case 'FST_ERR_BAD_URL':
      return failure('BAD_URL', { url: shown(request.url) });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return failure('PARAMETER_TOO_LONG');
  }
  const status = error.statusCode ?? 500;
  if (status >= 500) return undefined;
  // One we have not met: keep its status, never its Fastify code.
  return failure('BAD_REQUEST', { status, message: error.message });
}

/** The error handler (and frameworkErrors): every error in the documented shape. */
export function answerError(error: FastifyError | SpeakerdError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let answer = error instanceof SpeakerdError ? error : clientFacingError(error, request);
  if (!answer) {
    request.log.error({ err: error }, 'unexpected error');
    answer = failure('INTERNAL');
  }
  if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
  return reply.code(answer.statusCode).send(answer.toBody());
}

/** RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400. */
export async function requireHostHeader(request: FastifyRequest): Promise<void> {
  if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
    throw failure('NO_HOST');
  }
}
