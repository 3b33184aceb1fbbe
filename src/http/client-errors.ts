// Requests Node's HTTP parser refuses before any route sees them (bad chunk
// sizes, both Content-Length and Transfer-Encoding, headers too large or too
// slow) answered in speakerd's error shape, not Node's or Fastify's default
// {"error":"Bad Request","message":"Client Error"}. The connection is closed
// after the answer: its framing can no longer be trusted.
import type { Socket } from 'node:net';
import { errorBody } from '../error-table';
import type { ErrorBody } from '../errors';

interface ParserError extends Error {
  code?: string;
  reason?: string;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** The status and body for a parser error. */
export function clientErrorAnswer(error: ParserError, headersTimeoutMs: number): { status: number; body: ErrorBody } {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      body: { error: errorBody('HEADERS_TIMEOUT', { headersTimeoutMs }) },
    };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      body: { error: errorBody('HEADERS_TOO_LARGE') },
    };
  }
  const reason = error.reason ?? error.message;
  return {
    status: 400,
    body: { error: errorBody('BAD_HTTP', { reason: `${reason}${error.code ? ` (${error.code})` : ''}` }) },
  };
}

/**
 * Node's check finds every connection whose headers are late at once, every
 * connectionsCheckingInterval: 2,000 connections opened together and left
 * idle all time out in the same turn of the loop, and answering them there
 * took 179 ms, enough for a paced stream to underrun (bench/hostile.mjs,
 * idle). Timeouts are handled this many per turn instead.
 */
const TIMEOUTS_PER_TURN = 64;

/** Fastify's clientErrorHandler. */
export function answerClientError(headersTimeoutMs: number) {
  const answer = (error: ParserError, socket: Socket): void => {
    // A reset needs no answer, and nobody reads one on a closed socket.
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || socket.destroyed) {
      socket.destroy();
      return;
    }
    // A connection that never sent a byte is not waiting for an answer (an
    // idle client, or one holding a connection): it is closed, as an idle
    // keep-alive connection is.
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.bytesRead === 0) {
      socket.destroy();
      return;
    }
    const response = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
    if (!socket.writable || response?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, body } = clientErrorAnswer(error, headersTimeoutMs);
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
    // A client that never reads its answer does not keep the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
  };

  const timedOut: [ParserError, Socket][] = [];
  const answerSomeTimeouts = (): void => {
    for (const [error, socket] of timedOut.splice(0, TIMEOUTS_PER_TURN)) answer(error, socket);
    if (timedOut.length > 0) setImmediate(answerSomeTimeouts);
  };

  return (error: ParserError, socket: Socket): void => {
    if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
      answer(error, socket);
      return;
    }
    // Reading stops at once: nothing that arrives while it waits its turn
    // can become a request.
    socket.pause();
    if (timedOut.push([error, socket]) === 1) setImmediate(answerSomeTimeouts);
  };
}
