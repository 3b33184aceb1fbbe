// How many chunks of a chunked body the event loop parses for one client.
// Node parses everything a socket delivers in one go (up to 64 KiB a read,
// several reads in a row) and calls into JavaScript once per chunk, so a
// body sent in 1-byte chunks costs ~2.6 µs per byte before speakerd sees
// it: eight such clients kept /livez from answering at all (bench/hostile).
// A body over its budget is not read until the budget has refilled; the
// socket then stops (the body's buffer is full), and TCP makes the client
// wait. A client whose chunks are of a sensible size never comes near it:
// each FREE_CHUNK_BYTES of body data pays for a chunk, so a body whose
// chunks carry that much is never throttled however fast it comes. (Without
// that, a fast upload in curl's 64 KiB chunks ran out of its burst after
// about 800 MB and then went at 2,000 chunks a second: 130 MB/s, with stalls
// of half a second.)
//
// Chunks are not counted by Node; they are estimated from the framing: each
// costs at least 5 bytes on the wire besides its data (a hex digit, two
// CRLFs), so (wire bytes - body bytes) / 5 is an upper bound. The socket's
// byte count moves a whole read (64 KiB) at a time, ahead of the body bytes
// it carries, so the totals are compared, with a read's worth of slack.

/** Chunks per second a body may cost, sustained. */
export const CHUNKS_PER_SECOND = 2000;
/** Chunks a body may cost at once: more than one socket read of 1-byte chunks (64 KiB / 6 bytes). */
export const CHUNK_BURST = 12_000;
/** Body bytes that pay for one chunk: parsing a chunk costs about what copying this much does. */
export const FREE_CHUNK_BYTES = 4096;
const MIN_CHUNK_OVERHEAD_BYTES = 5;
const SOCKET_READ_BYTES = 64 * 1024;

export class ChunkBudget {
  readonly #now: () => number;
  #tokens = CHUNK_BURST;
  #refilledAt: number;
  /** Framing bytes already paid for. */
  #paidOverhead = 0;
  /** Body bytes already credited. */
  #creditedBody = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#refilledAt = now();
  }

  /** Accounts for the body so far: `wireBytes` in all arrived on the socket, carrying `bodyBytes` of body. */
  spend(wireBytes: number, bodyBytes: number): void {
    this.#refill();
    if (bodyBytes > this.#creditedBody) {
      this.#tokens = Math.min(CHUNK_BURST, this.#tokens + (bodyBytes - this.#creditedBody) / FREE_CHUNK_BYTES);
      this.#creditedBody = bodyBytes;
    }
    const overhead = Math.max(0, wireBytes - bodyBytes - SOCKET_READ_BYTES);
    if (overhead > this.#paidOverhead) {
      this.#tokens -= (overhead - this.#paidOverhead) / MIN_CHUNK_OVERHEAD_BYTES;
      this.#paidOverhead = overhead;
    }
  }

  /** The chunks paid for so far (an upper bound, beyond a socket read's worth of slack). */
  get chunksPaid(): number {
    return this.#paidOverhead / MIN_CHUNK_OVERHEAD_BYTES;
  }

  /** How long the body must wait before its next read; 0 when within budget. */
  delayMs(): number {
    this.#refill();
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / CHUNKS_PER_SECOND) * 1000);
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(CHUNK_BURST, this.#tokens + ((now - this.#refilledAt) / 1000) * CHUNKS_PER_SECOND);
    this.#refilledAt = now;
  }
}
