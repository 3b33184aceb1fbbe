// Queues (?queue=NAME, design §2b): the streams of one queue play one after
// another, in the order they arrived. A queue's current stream is the one
// whose body is being read. A later one waits, admitted and listed as
// queued, with its body unread (the client is held by TCP backpressure),
// until the current one's body has ended. It is then attached to follow
// that stream: its body fills its ring during the other's tail, and the
// playback thread starts it on the frame after the other's last.
import { failure } from '../error-table';
import type { SpeakerdError } from '../errors';
import type { Priority, Stream } from './native';

/** A stream waiting for its turn, as listings show it. */
export interface QueuedStream {
  readonly id: string;
  readonly name: string | undefined;
  readonly priority: Priority;
  readonly queue: string;
  readonly gainDb: number;
  readonly admitted: Date;
}

interface Waiter extends QueuedStream {
  /** Its turn: what the attach made. */
  take(value: unknown): void;
  refuse(error: SpeakerdError): void;
}

interface Line {
  /** Whose body is being read; undefined once it has ended. */
  currentId: string | undefined;
  /** The last stream attached, while it has not finished: a new one follows it. */
  tail: Stream | undefined;
  waiting: Waiter[];
}

export class StreamQueues<T> {
  readonly #lines = new Map<string, Line>();
  readonly #maxQueued: number;
  #waitingCount = 0;

  constructor(maxQueued: number) {
    this.#maxQueued = maxQueued;
  }

  /** Streams waiting in every queue. */
  get waitingCount(): number {
    return this.#waitingCount;
  }

  /** Whether a new stream of `queue` must wait: one before it is still reading its body, or others wait already. */
  mustWait(queue: string): boolean {
    const line = this.#lines.get(queue);
    return line !== undefined && (line.currentId !== undefined || line.waiting.length > 0);
  }

  /** The stream a new one of `queue` follows: the last attached, while it plays. */
  tail(queue: string): Stream | undefined {
    const tail = this.#lines.get(queue)?.tail;
    return tail && !tail.result ? tail : undefined;
  }

  /** Whether a stream of `queue` is attached and has not finished: the queue holds a place already. */
  holdsPlace(queue: string): boolean {
    const line = this.#lines.get(queue);
    return line !== undefined && (line.currentId !== undefined || this.tail(queue) !== undefined);
  }

  /** Waits in line: resolves with what the attach at its turn made (see passTurn), rejects if it never comes. 429 past MAX_QUEUED. */
  wait(entry: QueuedStream): Promise<T> {
    if (this.#waitingCount >= this.#maxQueued) {
      throw failure('TOO_MANY_QUEUED', { queued: this.#waitingCount, maxQueued: this.#maxQueued });
    }
    const line = this.#line(entry.queue);
    this.#waitingCount++;
    return new Promise<T>((resolve, reject) => {
      line.waiting.push({ ...entry, take: (value) => resolve(value as T), refuse: reject });
    });
  }

  /** A stream of `queue` was attached and reads its body now. */
  started(queue: string, id: string, stream: Stream): void {
    const line = this.#line(queue);
    line.currentId = id;
    line.tail = stream;
  }

  /**
   * The current stream's body has ended, or the stream is gone: the next
   * in line attaches (`attach` throws the SpeakerdError that refuses it, and
   * the one after it tries). Nothing if `id` is not the current one.
   */
  passTurn(queue: string, id: string, attach: (next: QueuedStream) => { value: T; stream: Stream }): void {
    const line = this.#lines.get(queue);
    if (!line || line.currentId !== id) return;
    line.currentId = undefined;
    for (let next = line.waiting.shift(); next; next = line.waiting.shift()) {
      this.#waitingCount--;
      try {
        const { value, stream } = attach(next);
        line.currentId = next.id;
        line.tail = stream;
        next.take(value);
        return;
      } catch (error) {
        next.refuse(error as SpeakerdError);
      }
    }
    this.#forgetIfIdle(queue, line);
  }

  /** A stream of `queue` has finished: the line is forgotten once nothing is left in it. */
  finished(queue: string): void {
    const line = this.#lines.get(queue);
    if (line) this.#forgetIfIdle(queue, line);
  }

  /** Takes a waiting stream out of its line (DELETE, client gone, shutdown). False when none waits with that id. */
  remove(id: string, error: SpeakerdError): boolean {
    for (const [queue, line] of this.#lines) {
      const at = line.waiting.findIndex((waiter) => waiter.id === id);
      if (at < 0) continue;
      const [waiter] = line.waiting.splice(at, 1);
      this.#waitingCount--;
      waiter!.refuse(error);
      this.#forgetIfIdle(queue, line);
      return true;
    }
    return false;
  }

  /** Every waiting stream, refused with `error` (shutdown). */
  removeAll(error: SpeakerdError): void {
    for (const waiter of this.waiting()) this.remove(waiter.id, error);
  }

  /** The waiting streams, in each queue's order. */
  waiting(): QueuedStream[] {
    return [...this.#lines.values()].flatMap((line) => line.waiting.map(({ id, name, priority, queue, gainDb, admitted }) => ({ id, name, priority, queue, gainDb, admitted })));
  }

  /** The waiting streams of one queue, in order. */
  waitingIn(queue: string): string[] {
    return this.#lines.get(queue)?.waiting.map((waiter) => waiter.id) ?? [];
  }

  #line(queue: string): Line {
    let line = this.#lines.get(queue);
    if (!line) {
      line = { currentId: undefined, tail: undefined, waiting: [] };
      this.#lines.set(queue, line);
    }
    return line;
  }

  #forgetIfIdle(queue: string, line: Line): void {
    if (line.currentId === undefined && line.waiting.length === 0 && this.tail(queue) === undefined) this.#lines.delete(queue);
  }
}
