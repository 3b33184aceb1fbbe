// Bearer-token auth for the API when AUTH_TOKEN is set. It is an onRequest
// hook of the encapsulated scope that holds the /v1 routes (app.ts), so the
// matched route decides, never the URL string: whatever spelling reached a
// /v1 handler (%76%31, an absolute-form target) has passed this check.
// Health and metrics live outside the scope and stay open for the kubelet
// and Prometheus. The comparison takes the same time whatever the token:
// both sides are hashed to equal length first.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { failure } from '../error-table';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Adds the check to `scope` and to every route registered in it. */
export function requireBearerToken(scope: FastifyInstance, token: string | undefined): void {
  if (token === undefined) return;
  const expected = digest(token);
  scope.addHook('onRequest', async (request) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw failure('UNAUTHORIZED', { wrongToken: match !== null });
    }
  });
}
