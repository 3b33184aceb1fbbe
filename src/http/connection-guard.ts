// Every open connection, and whether a request is in flight on it. Two
// things need that and Node does not offer either:
// - MAX_CONNECTIONS: at the cap, the oldest connection with no request in
//   flight (idle keep-alive, or never finished its headers) is closed to make
//   room. Node's own maxConnections refuses the newcomer instead, and the
//   newcomer may be the kubelet's probe.
// - Shutdown: connections without a request are closed at SIGTERM (Node's
//   closeIdleConnections() spares those still inside their headers, which
//   held the exit for up to two minutes), and the rest at the end, once the
//   uploads in flight (the streams' POSTs) have been answered: ended first,
//   destroyed only if their clients do not close them in time.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { failure } from '../error-table';

interface Connection {
  requests: number;
}

/** The answer to a connection that finds every place taken by a request in flight. */
const FULL_ANSWER = (() => {
  const refusal = failure('TOO_MANY_CONNECTIONS');
  const body = JSON.stringify(refusal.toBody());
  return `HTTP/1.1 ${refusal.statusCode} Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: ${refusal.retryAfterSeconds}\r\nConnection: close\r\n\r\n${body}`;
})();

export class ConnectionGuard {
  // Insertion order is age order: the first idle entry is the oldest.
  readonly #connections = new Map<Socket, Connection>();
  readonly #max: number;
  #evicted = 0;
  #refused = 0;
  #uploads = 0;
  #lingering = false;

  constructor(server: Server, maxConnections: number) {
    this.#max = maxConnections;
    server.on('connection', (socket: Socket) => this.#admit(socket));
    server.on('request', (request: IncomingMessage, response: ServerResponse) => this.#track(request, response));
  }

  get open(): number {
    return this.#connections.size;
  }

  /** POSTs whose answer has not been written yet: a stream's, a broadcast's. */
  get uploadsInFlight(): number {
    return this.#uploads;
  }

  /** Connections closed to make room, and newcomers refused because none could be. */
  get counts(): { evicted: number; refused: number } {
    return { evicted: this.#evicted, refused: this.#refused };
  }

  /** Closes every connection with no request in flight; returns how many. */
  closeIdle(): number {
    let closed = 0;
    for (const [socket, connection] of this.#connections) {
      if (connection.requests === 0) {
        socket.destroy();
        closed++;
      }
    }
    return closed;
  }

  /**
   * Ends every connection after what was written to it, and reads and drops
   * what its client still sends. Destroyed instead, a socket whose client
   * is still sending resets the connection, and a reset can overtake the
   * answer before the client reads it (a 503 to a trickling client was
   * lost so, 4 times in 10 in a reproduction).
   */
  endAll(): void {
    for (const socket of this.#connections.keys()) {
      socket.end();
      socket.resume();
    }
  }

  /**
   * From now on (shutdown), a connection that Node closes after an answer
   * with `Connection: close` (a stream cut by the shutdown, its body still
   * coming) is ended and drained as endAll() does, not destroyed: Node
   * destroys it as soon as the answer is written, and the client's next
   * bytes then draw a reset (EPIPE on a trickling client's next write),
   * which can overtake the 503 before the client reads it. The shutdown
   * destroys what is left at its end.
   */
  lingerFromNow(): void {
    this.#lingering = true;
    for (const socket of this.#connections.keys()) lingerOnClose(socket);
  }

  /** Closes every connection. */
  destroyAll(): void {
    for (const socket of this.#connections.keys()) socket.destroy();
  }

  #admit(socket: Socket): void {
    if (this.#connections.size >= this.#max && !this.#evictOldestIdle()) {
      this.#refused++;
      // The HTTP parser is attached already: stop reading, so that no
      // request on this socket reaches a route after the answer.
      socket.pause();
      socket.end(FULL_ANSWER);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.#connections.set(socket, { requests: 0 });
    socket.once('close', () => this.#connections.delete(socket));
    if (this.#lingering) lingerOnClose(socket);
  }

  #evictOldestIdle(): boolean {
    for (const [socket, connection] of this.#connections) {
      if (connection.requests === 0) {
        this.#connections.delete(socket);
        socket.destroy();
        this.#evicted++;
        return true;
      }
    }
    return false;
  }

  #track(request: IncomingMessage, response: ServerResponse): void {
    const connection = this.#connections.get(request.socket);
    if (!connection) return;
    connection.requests++;
    const upload = request.method === 'POST';
    if (upload) this.#uploads++;
    // 'close' comes once the answer is written, or with the connection.
    response.once('close', () => {
      connection.requests--;
      if (upload) this.#uploads--;
    });
  }
}

/** Node's http server calls destroySoon() once an answer with `Connection: close` is written: here it ends and drains instead. */
function lingerOnClose(socket: Socket): void {
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
  };
}
