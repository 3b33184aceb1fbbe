// Reads a request body in the batches Node has buffered, not chunk by chunk.
// A chunked body in 1-byte chunks then costs one wake-up per socket read,
// not a promise, a timer and a native call per byte: that per-chunk cost is
// what let three such clients starve the event loop (issue 13).
import type { Readable } from 'node:stream';
import type { Stream } from './native';

export type BodyRead =
  /** Every byte buffered since the last read, as one buffer. */
  | { kind: 'data'; bytes: Buffer }
  /** The body is complete. */
  | { kind: 'end' }
  /** The client closed the connection before the end of the body. */
  | { kind: 'gone' }
  /** Nothing arrived within the time given. */
  | { kind: 'timeout' }
  /** The native stream is done (stopped, cut at shutdown, the device lost): nothing more can play. */
  | { kind: 'stream_done' };

export class BodyReader {
  readonly #body: Readable;
  readonly #stream: Stream;
  #ended = false;
  #closed = false;
  #wake: (() => void) | undefined;
  readonly #onWake = () => this.#wake?.();
  readonly #onEnd = () => {
    this.#ended = true;
    this.#onWake();
  };
  readonly #onClose = () => {
    this.#closed = true;
    this.#onWake();
  };

  constructor(body: Readable, stream: Stream) {
    this.#body = body;
    this.#stream = stream;
    body.on('readable', this.#onWake);
    body.on('end', this.#onEnd);
    body.on('close', this.#onClose);
    // An aborted body errors (ECONNRESET): that is a client gone, not a crash.
    body.on('error', this.#onClose);
    stream.on('done', this.#onWake);
  }

  /** The next batch, or why there is none; waits at most timeoutMs for one. */
  async next(timeoutMs: number): Promise<BodyRead> {
    for (;;) {
      if (this.#stream.result) return { kind: 'stream_done' };
      const bytes = this.#body.read() as Buffer | null;
      if (bytes !== null) return { kind: 'data', bytes };
      if (this.#ended) return { kind: 'end' };
      if (this.#closed || this.#body.destroyed) return { kind: 'gone' };
      if (!(await this.#woken(timeoutMs))) return { kind: 'timeout' };
    }
  }

  /** Leaves no listener on the body or the stream. */
  dispose(): void {
    this.#body.off('readable', this.#onWake);
    this.#body.off('end', this.#onEnd);
    this.#body.off('close', this.#onClose);
    this.#body.off('error', this.#onClose);
    this.#stream.off('done', this.#onWake);
    // Errors after we stopped listening (a reset while the answer is sent)
    // must not become an uncaught 'error' event.
    this.#body.on('error', () => undefined);
  }

  // True when something happened, false when the time ran out.
  #woken(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, Math.max(0, timeoutMs));
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(true);
      };
    });
  }
}
