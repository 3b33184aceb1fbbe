// /v1/streams: play a request body, list, inspect and stop streams. Maps
// HTTP to the engine's Playback and back; a stream's life is the engine's.
import type { FastifyInstance } from 'fastify';
import type { Playback } from '../engine/playback';
import { failure } from '../error-table';
import type { SpeakerdError } from '../errors';

export interface StreamRouteOptions {
  playback: Playback;
}

const playQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // A string, checked by gainDb(): Ajv's number coercion lets Infinity,
    // 1e309 and 0x10 through its own minimum and maximum.
    gain: { type: 'string', maxLength: 32, description: 'gain in dB, a decimal number from -120 to 24' },
    name: { type: 'string', minLength: 1, maxLength: 128, description: 'a label for listings and logs' },
    // Strings checked by the engine, which words the error (priorityOf, queueName).
    priority: { type: 'string', maxLength: 32, description: 'background, normal (default), announcement or alarm' },
    queue: { type: 'string', maxLength: 128, description: 'streams of one queue play one after another' },
    // Strings checked by streamTiming(), which words the error.
    at: { type: 'string', maxLength: 64, description: 'when the first frame must play: RFC 3339 with fraction, or Unix ms' },
    late: { type: 'string', maxLength: 16, description: 'skip (default), play or reject, when at has passed on arrival' },
  },
} as const;

const playResult = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    frames: { type: 'integer' },
    seconds: { type: 'number' },
    underruns: { type: 'integer' },
    truncated: { type: 'boolean' },
    mode: { type: 'string' },
    codec: { type: 'string' },
    decodeErrors: { type: 'integer' },
    framesSkipped: { type: 'integer' },
  },
} as const;

const streamIdParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;

function notFound(id: string): SpeakerdError {
  return failure('STREAM_NOT_FOUND', { id });
}

export default async function streamRoutes(app: FastifyInstance, { playback }: StreamRouteOptions): Promise<void> {
  // The body stays a stream: the handler reads it as the ring takes frames,
  // so no parser may buffer it (and bodyLimit does not apply).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.post<{ Querystring: { gain?: string; name?: string; priority?: string; queue?: string; at?: string; late?: string } }>(
    '/v1/streams',
    { schema: { querystring: playQuery, response: { 200: playResult } } },
    async (request) =>
      playback.play({
        body: request.raw, contentType: request.headers['content-type'], name: request.query.name, gainDb: request.query.gain,
        priority: request.query.priority, queue: request.query.queue, at: request.query.at, late: request.query.late, log: request.log,
      }),
  );

  app.get('/v1/streams', async () => ({ streams: playback.list() }));

  app.get<{ Params: { id: string } }>('/v1/streams/:id', { schema: { params: streamIdParams } }, async (request) => {
    const stream = playback.describe(request.params.id);
    if (!stream) throw notFound(request.params.id);
    return stream;
  });

  app.delete<{ Params: { id: string } }>('/v1/streams/:id', { schema: { params: streamIdParams } }, async (request) => {
    if (!playback.stop(request.params.id)) throw notFound(request.params.id);
    return { id: request.params.id, stopped: true };
  });
}
