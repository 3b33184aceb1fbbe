// Live control of what plays: PATCH /v1/streams/:id (a stream's gain and
// pause) and GET/PUT /v1/volume (the master volume). JSON bodies, parsed by
// Fastify's own parser in this scope (the streams' scope takes every body
// as a stream), bounded; a bad body is answered in the documented shape.
import type { FastifyInstance } from 'fastify';
import type { AudioEngine, VolumeChange } from '../engine/engine';
import type { Playback, StreamControl } from '../engine/playback';
import { failure } from '../error-table';

export interface ControlRouteOptions {
  playback: Playback;
  engine: AudioEngine;
}

/** A control body is a few fields: anything longer is not one. */
const CONTROL_BODY_LIMIT = 1024;

const streamIdParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;

export default async function controlRoutes(app: FastifyInstance, { playback, engine }: ControlRouteOptions): Promise<void> {
  app.patch<{ Params: { id: string }; Body: StreamControl }>(
    '/v1/streams/:id',
    { schema: { params: streamIdParams }, bodyLimit: CONTROL_BODY_LIMIT },
    async (request) => {
      const stream = playback.control(request.params.id, request.body);
      if (!stream) throw failure('STREAM_NOT_FOUND', { id: request.params.id });
      return stream;
    },
  );

  app.get('/v1/volume', async () => engine.volume.state());

  app.put<{ Body: VolumeChange }>('/v1/volume', { bodyLimit: CONTROL_BODY_LIMIT }, async (request) => engine.volume.set(request.body));
}
