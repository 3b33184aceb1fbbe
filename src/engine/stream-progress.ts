// What keeps a stream's place: audio that advances, not bytes that arrive.
// A body that trickles a byte every few seconds used to reset the idle timer
// for ever and hold one of MAX_STREAMS places (issue 13). Only time spent
// waiting for the client counts: while the ring is full, the client is not
// at fault. A whole device period of frames (in the body's own rate) is one
// step of progress; no step within the idle timeout ends the stream (408).
// The wall-clock cap bounds a body that advances, but too slowly to finish.

export type Stall = 'idle' | 'too_slow';

export class StreamProgress {
  readonly #idleTimeoutMs: number;
  readonly #deadline: number;
  readonly #now: () => number;
  readonly #pausedMs: () => number;
  #framesPerStep: number;
  #framesSinceStep = 0;
  #waitedMs = 0;
  /** Which limit bounded the last wait budget: what a wait that used it all ran into. */
  #nearerLimit: Stall = 'idle';

  /** `pausedMs`: time the stream has spent paused so far, which the wall-clock cap does not count. */
  constructor(options: { idleTimeoutMs: number; wallMs: number; framesPerStep: number; now?: () => number; pausedMs?: () => number }) {
    this.#now = options.now ?? Date.now;
    this.#pausedMs = options.pausedMs ?? (() => 0);
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#deadline = this.#now() + options.wallMs;
    this.#framesPerStep = options.framesPerStep;
  }

  /** Once the body's rate is known: a device period in the body's frames. */
  setFramesPerStep(frames: number): void {
    this.#framesPerStep = Math.max(1, frames);
  }

  /** How long the next wait for the client may last. */
  waitBudgetMs(): number {
    const idleLeft = this.#idleTimeoutMs - this.#waitedMs;
    const wallLeft = this.#deadline + this.#pausedMs() - this.#now();
    this.#nearerLimit = wallLeft <= idleLeft ? 'too_slow' : 'idle';
    return Math.max(0, Math.min(idleLeft, wallLeft));
  }

  /** Time spent waiting for the client. */
  waited(ms: number): void {
    this.#waitedMs += ms;
  }

  /** Frames the body delivered. */
  advanced(frames: number): void {
    this.#framesSinceStep += frames;
    if (this.#framesSinceStep >= this.#framesPerStep) {
      this.#framesSinceStep %= this.#framesPerStep;
      this.#waitedMs = 0;
    }
  }

  /**
   * Why a wait that used its whole budget ended the stream: the limit that
   * set the budget. Not the clock read again: a timer may fire a millisecond
   * before Date.now() reaches its deadline, and a stream cut by the wall
   * clock was then reported idle (seen on Node 24 in CI).
   */
  stall(): Stall {
    return this.#nearerLimit;
  }

  get now(): number {
    return this.#now();
  }
}
