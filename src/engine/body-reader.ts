// Reads a request body in the batches Node has buffered, not chunk by chunk.
// A chunked body in 1-byte chunks then costs one wake-up per socket read,
// not a promise, a timer and a native call per byte: that per-chunk cost is
// what let three such clients starve the event loop (issue 13).
import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ChunkBudget } from './chunk-budget';
import { freeBuffer, type Stream } from './native';

/** A batch at least this big is read as soon as it is there. */
const IMMEDIATE_READ_BYTES = 16 * 1024;

/** What a body may hold unread before Node stops reading its socket, until it has shown chunks of a sensible size. */
const SMALL_HIGH_WATER_BYTES = 1024;
/** Body bytes after which a body whose chunks average PROVEN_CHUNK_BYTES or more gets Node's own mark back. */
const PROOF_BYTES = 64 * 1024;
const PROVEN_CHUNK_BYTES = 1024;

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

/** Where holdToSmallBuffer keeps a body's own mark, to be given back. */
const NORMAL_HIGH_WATER = Symbol('normalHighWater');

function setHighWater(body: Readable, bytes: number): void {
  const state = (body as Readable & { _readableState?: { highWaterMark?: unknown } })._readableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = bytes;
}

/**
 * Holds a body to SMALL_HIGH_WATER_BYTES until a BodyReader finds its chunks
 * big (see #setHighWater). Called as its request arrives, before Node parses
 * the rest of that socket read: set later (when the route starts reading),
 * Node had read and parsed another 64 KiB of 1-byte chunks per body
 * meanwhile, and eight bodies starting together stalled the loop up to
 * half a second (bench hostile, chunks).
 */
export function holdToSmallBuffer(body: Readable): void {
  const marked = body as Readable & { [NORMAL_HIGH_WATER]?: number };
  if (marked[NORMAL_HIGH_WATER] !== undefined) return;
  marked[NORMAL_HIGH_WATER] = body.readableHighWaterMark;
  setHighWater(body, Math.min(SMALL_HIGH_WATER_BYTES, body.readableHighWaterMark));
}

export class BodyReader {
  readonly #body: Readable;
  readonly #stream: Stream;
  /** The connection under the body (a request's), whose wire bytes pay for chunks. */
  readonly #socket: Socket | undefined;
  readonly #budget: ChunkBudget;
  /** The socket's byte count when the body started, and the body bytes read since. */
  readonly #wireStart: number;
  /** Node's high-water mark for the body, given back once its chunks have proved big. */
  readonly #normalHighWater: number;
  /** The body's chunks are Node's HTTP parser's, each a buffer of its own that nothing else holds. */
  readonly #ownsChunks: boolean;
  #provenBig = false;
  #bodyBytes = 0;
  #ended = false;
  #closed = false;
  #wake: (() => void) | undefined;
  #readScheduled = false;
  readonly #onWake = () => this.#wake?.();
  // Node's HTTP parser runs the tick queue after every body chunk it hands
  // over, so 'readable' fires once per chunk: read at once, a body of
  // 1-byte chunks is read a byte at a time (measured: 1,035,653 reads of
  // 1 byte in 2 s, each then decoded and written to the ring natively). A
  // small batch is therefore read in the check phase, which takes everything
  // that socket read delivered. A full one is read at once: that lets libuv
  // go on reading the socket in the same turn (deferring every read cost
  // 45 % of the ingest rate).
  readonly #onReadable = () => {
    if (this.#body.readableLength >= IMMEDIATE_READ_BYTES) {
      this.#onWake();
      return;
    }
    if (this.#readScheduled) return;
    this.#readScheduled = true;
    setImmediate(() => {
      this.#readScheduled = false;
      this.#wake?.();
    });
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#onWake();
  };
  readonly #onClose = () => {
    this.#closed = true;
    this.#onWake();
  };

  constructor(body: Readable, stream: Stream, now?: () => number) {
    this.#body = body;
    this.#stream = stream;
    this.#socket = (body as Readable & { socket?: Socket }).socket;
    this.#ownsChunks = body instanceof IncomingMessage;
    this.#wireStart = this.#socket?.bytesRead ?? 0;
    this.#budget = new ChunkBudget(now);
    // Held small since its request arrived (app.ts); a body that did not
    // come through the server is held from here.
    holdToSmallBuffer(body);
    this.#normalHighWater = (body as Readable & { [NORMAL_HIGH_WATER]: number })[NORMAL_HIGH_WATER];
    body.on('readable', this.#onReadable);
    body.on('end', this.#onEnd);
    body.on('close', this.#onClose);
    // An aborted body errors (ECONNRESET): that is a client gone, not a crash.
    body.on('error', this.#onClose);
    stream.on('done', this.#onWake);
  }

  /** The next batch, or why there is none; waits at most timeoutMs for one. */
  async next(timeoutMs: number): Promise<BodyRead> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#stream.result) return { kind: 'stream_done' };
      const delay = this.#budget.delayMs();
      if (delay > 0) {
        if (this.#closed) return { kind: 'gone' };
        // Over budget: the client waits, and that waiting is its own. The
        // wait is stretched at random by up to as much again: bodies that
        // started together would otherwise resume together, and each resume
        // parses at least a whole socket read of chunks at once.
        const jittered = delay * (1 + Math.random());
        if (!(await this.#woken(Math.min(jittered, deadline - Date.now()), 'throttled'))) {
          if (Date.now() >= deadline) return { kind: 'timeout' };
        }
        continue;
      }
      const bytes = this.#body.read() as Buffer | null;
      if (bytes !== null) {
        this.#spend(bytes.length);
        return { kind: 'data', bytes };
      }
      if (this.#ended) return { kind: 'end' };
      if (this.#closed || this.#body.destroyed) return { kind: 'gone' };
      if (!(await this.#woken(deadline - Date.now(), 'reading'))) return { kind: 'timeout' };
    }
  }

  // Node stops reading a body's socket once its high-water mark of body
  // bytes waits unread (16 KiB by default on Node 20, 64 KiB from Node 22).
  // For a body of 1-byte chunks that is 16 K chunks or more parsed per
  // resume, and a new body could parse two socket reads of them (22 K)
  // before its first throttle: bench hostile saw a 214 ms stall and an
  // underrun the one time an attacker reconnected. At 1 KiB it is one socket
  // read's worth. But 1 KiB for every body cost 35 % of the ingest rate
  // (Node stops and restarts the socket after each read, and libuv reads it
  // once per turn instead of several times). So a body starts at 1 KiB and
  // gets Node's own mark back once 64 KiB of it came in chunks of 1 KiB or
  // more on average, without a throttle. The mark is a plain field of the
  // stream's state in Node 20 to 24; if it is ever not, bodies are
  // throttled all the same, at a coarser grain.
  #setHighWater(bytes: number): void {
    setHighWater(this.#body, bytes);
  }

  #spend(bodyBytes: number): void {
    this.#bodyBytes += bodyBytes;
    const wireBytes = (this.#socket?.bytesRead ?? this.#wireStart + this.#bodyBytes) - this.#wireStart;
    this.#budget.spend(wireBytes, this.#bodyBytes);
    if (this.#provenBig || this.#bodyBytes < PROOF_BYTES) return;
    if (this.#budget.delayMs() === 0 && this.#budget.chunksPaid * PROVEN_CHUNK_BYTES <= this.#bodyBytes) {
      this.#provenBig = true;
      this.#setHighWater(this.#normalHighWater);
    }
  }

  /**
   * Gives back a batch next() returned, once its bytes are in the ring: its
   * memory is freed at once, not at the next GC. Only a request's: its
   * batches are Node's buffer of one body chunk, or the one read() joined
   * several into, and nothing reads them afterwards. Any other body's
   * chunks may be its maker's own buffers (inject() pushes the caller's
   * payload), which stay as they are.
   */
  release(batch: Buffer): void {
    if (this.#ownsChunks) freeBuffer(batch);
  }

  /** Leaves no listener on the body or the stream. */
  dispose(): void {
    this.#body.off('readable', this.#onReadable);
    this.#body.off('end', this.#onEnd);
    this.#body.off('close', this.#onClose);
    this.#body.off('error', this.#onClose);
    this.#stream.off('done', this.#onWake);
    // Errors after we stopped listening (a reset while the answer is sent)
    // must not become an uncaught 'error' event.
    this.#body.on('error', () => undefined);
  }

  // True when something happened, false when the time ran out. While
  // throttled, only the end of the stream or of the connection wakes it:
  // new data must wait for the budget.
  #woken(timeoutMs: number, why: 'reading' | 'throttled'): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, Math.max(0, timeoutMs));
      this.#wake = () => {
        if (why === 'throttled' && !this.#stream.result && !this.#closed) return;
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(true);
      };
    });
  }
}
