// /v1/streams: play a request body, list, inspect and stop streams.
import { context as contexts } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import type { StreamRecord } from '../engine/engine';
import { firstFrameLatencyMs, StreamSink } from '../engine/stream-sink';
import { SpeakerdError } from '../errors';
import type { BodyDecoder } from '../formats/decoder';
import { decoderFor } from '../formats/detect';
import type { ServiceMetrics } from '../telemetry/metrics';
import { outcomeOf, type StreamEnd } from '../telemetry/stream-end';
import { StreamSpan } from '../telemetry/stream-span';

export interface StreamRouteOptions {
  maxStreamSeconds: number;
  maxStreamWallSeconds: number;
  streamIdleTimeoutMs: number;
  metrics: ServiceMetrics;
}

const playQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // A string, checked by gainDb(): Ajv's number coercion lets Infinity,
    // 1e309 and 0x10 through its own minimum and maximum.
    gain: { type: 'string', maxLength: 32, description: 'gain in dB, a decimal number from -120 to 24' },
    name: { type: 'string', minLength: 1, maxLength: 128, description: 'a label for listings and logs' },
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
  },
} as const;

const streamIdParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;

function describe(record: StreamRecord) {
  const stats = record.native.stats();
  return {
    id: record.id,
    name: record.name ?? null,
    format: record.format ?? null,
    framesPlayed: stats.framesPlayed,
    bufferedFrames: stats.bufferedFrames,
    underruns: stats.underruns,
    started: record.started.toISOString(),
  };
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const GAIN_DB_MIN = -120;
const GAIN_DB_MAX = 24;

/** The ?gain= value in dB: a finite decimal number in [-120, 24], else 400. */
function gainDb(value: string | undefined): number {
  if (value === undefined) return 0;
  const db = DECIMAL.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(db) || db < GAIN_DB_MIN || db > GAIN_DB_MAX) {
    throw new SpeakerdError(
      'E_INVALID_PARAMETER',
      400,
      `gain must be a decimal number of dB from ${GAIN_DB_MIN} to ${GAIN_DB_MAX}; got ${JSON.stringify(value)}`,
      'send ?gain= as a plain decimal such as -6 or 3.5',
    );
  }
  return db;
}

function notFound(id: string): SpeakerdError {
  return new SpeakerdError('E_STREAM_NOT_FOUND', 404, `no stream ${id} is playing`, 'GET /v1/streams lists the streams that are playing');
}

export default async function streamRoutes(app: FastifyInstance, options: StreamRouteOptions): Promise<void> {
  const { metrics, ...limits } = options;
  // The body stays a stream: the handler reads it as the ring takes frames,
  // so no parser may buffer it (and bodyLimit does not apply).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.post<{ Querystring: { gain?: string; name?: string } }>(
    '/v1/streams',
    { schema: { querystring: playQuery, response: { 200: playResult } } },
    async (request) => {
      const contentType = request.headers['content-type'];
      let decoder: BodyDecoder;
      let record: StreamRecord;
      let gain: number;
      try {
        gain = gainDb(request.query.gain);
        decoder = decoderFor(contentType);
        record = app.audio.admit(request.query.name, 10 ** (gain / 20));
      } catch (error) {
        metrics.streamRejected((error as SpeakerdError).code);
        throw error;
      }
      const log = request.log.child({ streamId: record.id, streamName: record.name });
      log.info({ contentType, gainDb: gain }, 'stream admitted');
      const sink = new StreamSink(record, decoder, {
        idleTimeoutMs: limits.streamIdleTimeoutMs,
        maxSeconds: limits.maxStreamSeconds,
        maxWallSeconds: limits.maxStreamWallSeconds,
      });
      const span = new StreamSpan(record, app.audio.supervisor, contentType);
      // Into the metrics and the span; returns the latency for the log line.
      const recordEnd = (error: SpeakerdError | undefined, truncated?: boolean) => {
        const result = sink.result;
        const end: StreamEnd = { outcome: outcomeOf(error?.code), result, firstFrameMs: result && firstFrameLatencyMs(record, result), truncated, error };
        metrics.streamEnded(end);
        span.end(end);
        return end.firstFrameMs;
      };
      try {
        // Log lines written while it plays carry the stream span's ids.
        const result = await contexts.with(span.context, () => sink.play(request.raw));
        log.info({ result, format: record.format, firstFrameMs: recordEnd(undefined, result.truncated) }, 'stream played');
        return result;
      } catch (error) {
        const failure = error instanceof SpeakerdError ? error : undefined;
        log.info({ code: (error as SpeakerdError).code, err: error, firstFrameMs: recordEnd(failure) }, 'stream ended early');
        throw error;
      } finally {
        app.audio.release(record);
      }
    },
  );

  app.get('/v1/streams', async () => ({ streams: [...app.audio.streams.values()].map(describe) }));

  app.get<{ Params: { id: string } }>('/v1/streams/:id', { schema: { params: streamIdParams } }, async (request) => {
    const record = app.audio.streams.get(request.params.id);
    if (!record) throw notFound(request.params.id);
    return describe(record);
  });

  app.delete<{ Params: { id: string } }>('/v1/streams/:id', { schema: { params: streamIdParams } }, async (request) => {
    if (!app.audio.stop(request.params.id)) throw notFound(request.params.id);
    return { id: request.params.id, stopped: true };
  });
}
