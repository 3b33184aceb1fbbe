// What POST /v1/streams needs from a body decoder: feed it the body as it
// arrives and get back whole frames in a known input format, without the
// body ever being buffered whole. One decoder serves one body.
import type { AudioFormat } from './audio-format';
import type { Codec } from './codec';

export interface BodyDecoder {
  /** Known once the header has been read (at once for raw types); undefined for a compressed body. */
  readonly format: AudioFormat | undefined;
  /**
   * Set once the body is known to be compressed: write() then returns its
   * bytes as they are, for the stream's native decoder.
   */
  readonly codec: Codec | undefined;
  /**
   * True once all the audio the body declares has been returned (a WAV data
   * chunk of a real size): the rest of the body carries nothing to play and
   * need not be read.
   */
  readonly finished: boolean;
  /**
   * Feeds body bytes; returns the whole frames of audio now available
   * (possibly none), carrying partial frames over. The buffers returned may
   * share memory with `chunk`; none is empty. Throws a SpeakerdError (400)
   * on a malformed header, and the same error again on every later call.
   */
  write(chunk: Buffer): Buffer[];
  /**
   * The body has ended. A body that ends inside the header throws a
   * SpeakerdError (400). `truncated` is true when audio bytes were dropped:
   * the body ended inside a frame, or before a declared (non-streaming) data
   * size, or the declared data size is not a whole number of frames.
   */
  end(): { truncated: boolean };
}
