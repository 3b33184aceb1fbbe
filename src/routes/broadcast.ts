// POST /v1/broadcast (design §2c): the same body and options as POST
// /v1/streams, played by every ready speakerd of the DaemonSet at one
// wall-clock time: now + BROADCAST_LEAD_MS, unless the client gave ?at=.
// One answer with each node's result; a node that fails or falls behind is
// cut and reported, the others play on.
import type { FastifyInstance } from 'fastify';
import { fanOut } from '../broadcast/fan-out';
import { findPeers, type PeerSettings } from '../broadcast/peers';
import { failure } from '../error-table';
import { parseAt } from '../engine/playback';

export interface BroadcastRouteOptions {
  peers: PeerSettings;
  leadMs: number;
  stallMs: number;
}

const broadcastQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    gain: { type: 'string', maxLength: 32 },
    name: { type: 'string', minLength: 1, maxLength: 128 },
    priority: { type: 'string', maxLength: 32 },
    at: { type: 'string', maxLength: 64 },
    late: { type: 'string', maxLength: 16 },
  },
} as const;

type BroadcastQuery = { gain?: string; name?: string; priority?: string; at?: string; late?: string };

export default async function broadcastRoutes(app: FastifyInstance, options: BroadcastRouteOptions): Promise<void> {
  // The body goes on to the peers as it arrives, unparsed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.post<{ Querystring: BroadcastQuery }>('/v1/broadcast', { schema: { querystring: broadcastQuery } }, async (request) => {
    const query = request.query;
    const atMs = query.at === undefined ? Date.now() + options.leadMs : parseAt(query.at);
    if (atMs === undefined || atMs <= 0) throw failure('INVALID_AT', { value: query.at ?? '' });
    let peers;
    try {
      peers = await findPeers(options.peers);
    } catch (error) {
      throw failure('NO_PEERS', { name: options.peers.dnsName, reason: (error as Error).message });
    }
    if (peers.length === 0) throw failure('NO_PEERS', { name: options.peers.dnsName, reason: 'it has no address' });
    const forwarded = new URLSearchParams();
    for (const key of ['gain', 'name', 'priority', 'late'] as const) if (query[key] !== undefined) forwarded.set(key, query[key]);
    forwarded.set('at', String(atMs));
    const headers: Record<string, string> = { 'content-type': request.headers['content-type'] ?? 'application/octet-stream' };
    // The same token: the peers are this service.
    if (request.headers.authorization) headers.authorization = request.headers.authorization;
    const results = await fanOut(request.raw, peers, { path: `/v1/streams?${forwarded}`, headers, stallMs: options.stallMs });
    request.log.info({ atMs, peers: results.map(({ peer, status, error }) => ({ peer, status, code: error?.code })) }, 'broadcast ended');
    return {
      at: new Date(atMs).toISOString(),
      atMs,
      played: results.filter((result) => result.status === 200).length,
      failed: results.filter((result) => result.status !== 200).length,
      peers: results,
    };
  });
}
