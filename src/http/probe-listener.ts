// The kubelet's probes on a port of their own (PROBE_PORT), so that no
// crowd of connections on PORT can make them late.
//
// Node accepts one connection per listening socket per turn of its event
// loop, and a turn lasts as long as the requests on every connection already
// open take. When many connections open at once, a newcomer waits behind all
// of them: at the start of a wrk flood (128 connections), the accept queue
// of PORT took 1.5 s to drain here, and a probe that joined it waited that
// long although the loop answered each request in about 20 ms. A second
// listener has its own queue: a probe there is accepted in the next turn.
// Measured in bench/hostile.mjs; docs/decisions.md, "A port for the probes".
//
// It answers the probes and nothing else (app.ts refuses every other route
// that a request on it matches), so it is not a second way into the API
// that MAX_CONNECTIONS does not count.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ConnectionGuard } from './connection-guard';

/** The routes the probe port answers. */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz']);

/** The kubelet opens a connection per probe, three probes at most at a time: anything beyond is not the kubelet. */
const PROBE_MAX_CONNECTIONS = 32;

type ClientErrorListener = (error: Error, socket: Socket) => void;

export class ProbeListener {
  readonly #server: http.Server;
  readonly #guard: ConnectionGuard;
  readonly #sockets = new WeakSet<Socket>();

  /** `handler` is the app's own request handler: the probes go through the same routes, hooks and error shapes as on PORT. */
  constructor(handler: http.RequestListener, options: http.ServerOptions, onClientError: ClientErrorListener) {
    this.#server = http.createServer(options, handler);
    this.#server.on('connection', (socket: Socket) => this.#sockets.add(socket));
    this.#server.on('clientError', onClientError);
    this.#guard = new ConnectionGuard(this.#server, PROBE_MAX_CONNECTIONS);
  }

  /** Whether `socket` came in through the probe port. */
  owns(socket: Socket): boolean {
    return this.#sockets.has(socket);
  }

  /** Listens; resolves with the URL the probes are at. */
  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      this.#server.once('error', failed);
      this.#server.listen(port, host, () => {
        this.#server.off('error', failed);
        const address = this.#server.address() as AddressInfo;
        const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`http://${shownHost}:${address.port}`);
      });
    });
  }

  /** Stops listening and closes every probe connection. */
  close(): Promise<void> {
    if (!this.#server.listening) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#guard.destroyAll();
    return closed;
  }
}
