// Cuts a byte stream into whole frames. Network chunks split frames
// anywhere, but the engine only takes whole frames, so the few bytes of a
// frame that straddles two chunks are held back and completed by the next.
// The whole frames in the middle of a chunk are returned as views of it,
// not copies: this is the hot path of every stream.

export class FrameSplitter {
  readonly frameBytes: number;
  #partial: Buffer;
  #partialLength = 0;

  constructor(frameBytes: number) {
    this.frameBytes = frameBytes;
    this.#partial = Buffer.alloc(frameBytes);
  }

  /** Bytes of an incomplete frame held back, waiting for the rest of it. */
  get partialBytes(): number {
    return this.#partialLength;
  }

  /** Returns the whole frames that `chunk` completes or contains; never an empty buffer. */
  split(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let offset = 0;
    if (this.#partialLength > 0) {
      const taken = Math.min(this.frameBytes - this.#partialLength, chunk.length);
      chunk.copy(this.#partial, this.#partialLength, 0, taken);
      this.#partialLength += taken;
      offset = taken;
      if (this.#partialLength < this.frameBytes) return frames;
      frames.push(this.#partial);
      // The completed frame now belongs to the caller.
      this.#partial = Buffer.alloc(this.frameBytes);
      this.#partialLength = 0;
    }
    const wholeEnd = offset + Math.floor((chunk.length - offset) / this.frameBytes) * this.frameBytes;
    if (wholeEnd > offset) frames.push(chunk.subarray(offset, wholeEnd));
    // The tail starts the next straddling frame.
    chunk.copy(this.#partial, 0, wholeEnd);
    this.#partialLength = chunk.length - wholeEnd;
    return frames;
  }
}
