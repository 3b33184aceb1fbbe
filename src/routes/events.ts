// GET /v1/events: what happens, as Server-Sent Events. Each event has an id;
// a client that reconnects with Last-Event-ID gets what it missed from the
// engine's bounded buffer (engine/event-log.ts), or a "gap" event first
// when some of it is gone. A comment every 15 s keeps proxies from closing
// an idle stream. A client that stops reading is dropped once 1 MiB waits
// for it, rather than held in memory without end.
import type { FastifyInstance } from 'fastify';
import type { ServiceEvent } from '../engine/engine';

const HEARTBEAT_MS = 15_000;
const MAX_UNSENT_BYTES = 1 << 20;

function frame(event: ServiceEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify({ at: event.at, ...event.data })}\n\n`;
}

export default async function eventRoutes(app: FastifyInstance): Promise<void> {
  app.get('/v1/events', (request, reply) => {
    const events = app.audio.events;
    const lastId = request.headers['last-event-id'];
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (text: string) => {
      if (response.writableLength > MAX_UNSENT_BYTES) {
        request.log.warn({ unsentBytes: response.writableLength }, 'event stream dropped: its client does not read');
        response.destroy();
        return;
      }
      response.write(text);
    };
    // A retry hint for EventSource, then what the client missed.
    send('retry: 1000\n\n');
    if (typeof lastId === 'string' && lastId !== '') {
      const replay = events.since(lastId);
      if (replay.gap) send(`event: gap\ndata: ${JSON.stringify({ lastEventId: lastId, message: 'events after this id are no longer held; what follows is all that is' })}\n\n`);
      for (const event of replay.events) send(frame(event));
    }
    const unsubscribe = events.subscribe((event) => send(frame(event)));
    const heartbeat = setInterval(() => send(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    response.on('close', () => {
      unsubscribe();
      clearInterval(heartbeat);
    });
  });
}
