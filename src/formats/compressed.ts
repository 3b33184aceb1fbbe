// A compressed body (FLAC, Ogg Opus, Ogg Vorbis, MP3): its bytes go to the
// stream's native decoder as they arrive, untouched. What they decode to,
// whether they were cut short and how many frames were corrupt, the decoder
// reports with the stream's result.
import type { BodyDecoder } from './decoder';
import type { Codec } from './codec';

export class CompressedDecoder implements BodyDecoder {
  readonly codec: Codec;
  readonly format = undefined;
  readonly finished = false;

  constructor(codec: Codec) {
    this.codec = codec;
  }

  write(chunk: Buffer): Buffer[] {
    return chunk.length === 0 ? [] : [chunk];
  }

  end(): { truncated: boolean } {
    return { truncated: false };
  }
}
