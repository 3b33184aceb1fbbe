// Bearer-token auth for /v1/* when AUTH_TOKEN is set. Health and metrics stay
// open for the kubelet and Prometheus. The comparison takes the same time
// whatever the token: both sides are hashed to equal length first.
import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { SpeakerdError } from '../errors';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export default fp<{ token: string | undefined }>(
  async (app, { token }) => {
    if (token === undefined) return;
    const expected = digest(token);
    app.addHook('onRequest', async (request) => {
      if (!request.url.startsWith('/v1/')) return;
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(.+)$/i.exec(header);
      if (!match || !timingSafeEqual(digest(match[1]!.trim()), expected)) {
        throw new SpeakerdError(
          'E_UNAUTHORIZED',
          401,
          match ? 'the bearer token is wrong' : 'this endpoint needs an Authorization: Bearer header',
          'send Authorization: Bearer <AUTH_TOKEN>',
        );
      }
    });
  },
  { name: 'speakerd-auth' },
);
