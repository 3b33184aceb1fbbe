// Reads a request body in batches: small chunks joined, big ones as they
// are. A chunked body in 1-byte chunks then costs one wake-up per socket
// read, not a promise, a timer and a native call per byte: that per-chunk
// cost is what let three such clients starve the event loop (issue 13). A
// body starts paused, read from Node's buffer ('readable'); once its chunks
// have proved big it flows ('data') into a queue of its own, which is the
// ingest rate's path (see #startFlowing). A batch already there is taken
// without waiting (poll), which costs no promise at all.
import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ChunkBudget } from './chunk-budget';
import { freeBuffer, type Stream } from './native';

/** A batch at least this big is read as soon as it is there. */
const IMMEDIATE_READ_BYTES = 16 * 1024;

/** A buffered chunk at least this big is read on its own, not joined with the next. */
const SEPARATE_CHUNK_BYTES = 4 * 1024;

/**
 * What a flowing body may queue before it is paused (Node then buffers up to
 * its own mark and stops the socket). Several socket reads: paused at Node's
 * 16 KiB, a body whose every read is 64 KiB stopped and restarted its socket
 * after each one, and libuv read it once a turn instead of several times.
 */
const FLOWING_QUEUE_BYTES = 256 * 1024;
/** Taken slots at the head of a flowing body's queue that are dropped at once. */
const QUEUE_COMPACT_SLOTS = 1024;

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

const END: BodyRead = Object.freeze({ kind: 'end' });
const GONE: BodyRead = Object.freeze({ kind: 'gone' });
const TIMEOUT: BodyRead = Object.freeze({ kind: 'timeout' });
const STREAM_DONE: BodyRead = Object.freeze({ kind: 'stream_done' });

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

/**
 * How much to read so that a big chunk comes alone: its length when the
 * first buffered chunk is at least SEPARATE_CHUNK_BYTES, else everything
 * (small chunks are joined into one batch). read() of everything joins a
 * socket read's two or three chunks into a new buffer: a copy of the whole
 * body, and Node's own chunks, left to the GC, drove V8's major collections
 * (measured: 0 mark-compacts per GiB read chunk by chunk, 6 joined). The
 * buffered chunks are the stream's internal list (Node 20.20 to 24: an
 * array from bufferIndex on); any other shape reads everything, as before.
 */
function readSize(body: Readable): number | undefined {
  const state = (body as Readable & { _readableState?: { buffer?: unknown; bufferIndex?: unknown } })._readableState;
  const buffered = state?.buffer;
  const index = state?.bufferIndex;
  if (!Array.isArray(buffered) || typeof index !== 'number') return undefined;
  const first = buffered[index] as unknown;
  return first instanceof Uint8Array && first.length >= SEPARATE_CHUNK_BYTES ? first.length : undefined;
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
  /** Proven big, the body flows: Node hands over each chunk as it parses it, into this queue. */
  #flowing = false;
  readonly #queue: (Buffer | undefined)[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  /** The watchdog that ends a wait for the client at its deadline, and when it is due. */
  #watchdog: NodeJS.Timeout | undefined;
  #watchdogDue = 0;
  #waitDeadline = 0;
  #resolveWait: ((woken: boolean) => void) | undefined;
  readonly #onWake = () => this.#wake?.();
  // Node's HTTP parser runs the tick queue after every body chunk it hands
  // over, so 'readable' fires once per chunk: read at once, a body of
  // 1-byte chunks is read a byte at a time (measured: 1,035,653 reads of
  // 1 byte in 2 s, each then decoded and written to the ring natively). A
  // small batch is therefore read in the check phase, which takes everything
  // that socket read delivered. A full one is read at once: that lets libuv
  // go on reading the socket in the same turn (deferring every read cost
  // 45 % of the ingest rate).
  readonly #onReadable = () => this.#onChunks(this.#body.readableLength);
  #onChunks(buffered: number): void {
    if (buffered >= IMMEDIATE_READ_BYTES) {
      this.#onWake();
      return;
    }
    if (this.#readScheduled) return;
    this.#readScheduled = true;
    setImmediate(() => {
      this.#readScheduled = false;
      this.#wake?.();
    });
  }

  // A flowing body's chunk: queued as it is, and the body paused once the
  // queue holds FLOWING_QUEUE_BYTES.
  readonly #onData = (chunk: Buffer) => {
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#queuedBytes >= FLOWING_QUEUE_BYTES) this.#body.pause();
    this.#onChunks(this.#queuedBytes);
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

  /**
   * The next batch, or why there is none, if that is known now; undefined
   * when it must be waited for (nothing buffered, or over budget). A body
   * read as fast as it arrives finds its batch here: no promise, no timer.
   */
  poll(): BodyRead | undefined {
    if (this.#stream.result) return STREAM_DONE;
    if (this.#budget.delayMs() > 0) return undefined;
    const bytes = this.#flowing ? this.#takeQueued() : (this.#body.read(readSize(this.#body)) as Buffer | null);
    if (bytes !== null) {
      this.#spend(bytes.length);
      return { kind: 'data', bytes };
    }
    if (this.#ended) return END;
    if (this.#closed || this.#body.destroyed) return GONE;
    return undefined;
  }

  /** The next batch, or why there is none; waits at most timeoutMs for one. */
  async next(timeoutMs: number): Promise<BodyRead> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready = this.poll();
      if (ready) return ready;
      const delay = this.#budget.delayMs();
      if (delay > 0) {
        if (this.#closed) return GONE;
        // Over budget: the client waits, and that waiting is its own. The
        // wait is stretched at random by up to as much again: bodies that
        // started together would otherwise resume together, and each resume
        // parses at least a whole socket read of chunks at once.
        const jittered = delay * (1 + Math.random());
        if (!(await this.#throttled(Math.min(jittered, deadline - Date.now())))) {
          if (Date.now() >= deadline) return TIMEOUT;
        }
        continue;
      }
      if (!(await this.#readable(deadline))) return TIMEOUT;
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
    // The socket's count includes what a flowing body holds queued, and what
    // Node buffered under it once it paused: those body bytes have arrived,
    // and are no framing to pay for.
    const arrived = this.#bodyBytes + this.#queuedBytes + (this.#flowing ? this.#body.readableLength : 0);
    const wireBytes = (this.#socket?.bytesRead ?? this.#wireStart + arrived) - this.#wireStart;
    this.#budget.spend(wireBytes, arrived);
    if (this.#provenBig || this.#bodyBytes < PROOF_BYTES) return;
    if (this.#budget.delayMs() === 0 && this.#budget.chunksPaid * PROVEN_CHUNK_BYTES <= this.#bodyBytes) {
      this.#provenBig = true;
      this.#setHighWater(this.#normalHighWater);
      this.#startFlowing();
    }
  }

  // A body proven big flows: each chunk comes by 'data' as Node parses it,
  // with no 'readable' event, tick or join per socket read (10 % of the
  // ingest rate, measured). What is still buffered flows first. The
  // 'readable' listener goes on the next tick (Node's own order), and the
  // stream flows from then on.
  #startFlowing(): void {
    this.#flowing = true;
    this.#body.off('readable', this.#onReadable);
    this.#body.on('data', this.#onData);
    this.#body.resume();
  }

  // The next queued chunk if it is big, else the small ones before the next
  // big one, joined; resumes a paused body once the queue has room.
  #takeQueued(): Buffer | null {
    const queue = this.#queue;
    let bytes = queue[this.#queueHead];
    if (bytes === undefined) return null;
    queue[this.#queueHead++] = undefined;
    if (bytes.length < SEPARATE_CHUNK_BYTES) {
      const small = [bytes];
      for (let next = queue[this.#queueHead]; next !== undefined && next.length < SEPARATE_CHUNK_BYTES; next = queue[this.#queueHead]) {
        small.push(next);
        queue[this.#queueHead++] = undefined;
      }
      if (small.length > 1) bytes = Buffer.concat(small);
    }
    // The taken slots are dropped once the queue is empty, or once there are
    // many of them: a body that always lags keeps a few chunks queued.
    if (this.#queueHead === queue.length || this.#queueHead >= QUEUE_COMPACT_SLOTS) {
      queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
    this.#queuedBytes -= bytes.length;
    if (this.#queuedBytes < FLOWING_QUEUE_BYTES && this.#body.isPaused() && !this.#ended) this.#body.resume();
    return bytes;
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
    this.#body.off('data', this.#onData);
    // Unread data stays buffered, as it does for a body that never flowed.
    if (this.#flowing) this.#body.pause();
    this.#body.off('end', this.#onEnd);
    this.#body.off('close', this.#onClose);
    this.#body.off('error', this.#onClose);
    this.#stream.off('done', this.#onWake);
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    // Errors after we stopped listening (a reset while the answer is sent)
    // must not become an uncaught 'error' event.
    this.#body.on('error', () => undefined);
  }

  // True when the client or the stream did something, false when `deadline`
  // passed first. A body read as fast as it arrives waits once per socket
  // read, so the deadline is kept by one watchdog timer for the whole body
  // (see #onWatchdog), not by a timer made and cleared per wait.
  #readable(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.#waitDeadline = deadline;
      this.#resolveWait = resolve;
      this.#wake = this.#wakeReader;
      if (this.#watchdog === undefined || this.#watchdogDue > deadline) this.#armWatchdog(deadline);
    });
  }

  readonly #wakeReader = () => {
    this.#wake = undefined;
    this.#resolveWait?.(true);
    this.#resolveWait = undefined;
  };

  // Fires at or after the due time it was armed for; a wait whose deadline
  // was pushed back meanwhile is armed again for the rest. The clock is read
  // again, not trusted to the timer: a timer may fire a millisecond early.
  readonly #onWatchdog = () => {
    this.#watchdog = undefined;
    if (this.#wake !== this.#wakeReader) return;
    if (Date.now() < this.#waitDeadline) {
      this.#armWatchdog(this.#waitDeadline);
      return;
    }
    this.#wake = undefined;
    this.#resolveWait?.(false);
    this.#resolveWait = undefined;
  };

  #armWatchdog(due: number): void {
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#watchdogDue = due;
    this.#watchdog = setTimeout(this.#onWatchdog, Math.max(1, due - Date.now()));
  }

  // True when the stream ended or the client left, false when the time ran
  // out: new data must wait for the budget.
  #throttled(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, Math.max(0, timeoutMs));
      this.#wake = () => {
        if (!this.#stream.result && !this.#closed) return;
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(true);
      };
    });
  }
}
