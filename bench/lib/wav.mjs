// The test signal every bench plays: S16_LE sines built once as a 1 MiB
// pattern and repeated, so that any length of audio can be produced on the
// fly (a 1 GiB body is generated as it is sent, never stored).

import { Readable } from 'node:stream';

export const WAV_HEADER_BYTES = 44;
export const PATTERN_BYTES = 1024 * 1024;

/** What speakerd and aplay read as "the data runs until the end of the body". */
const STREAMING_SIZE = 0xffffffff;

/**
 * A canonical PCM WAV header. Without `dataBytes` it carries the streaming
 * size, as a recorder writing to a pipe emits it: the length is not known up front.
 */
export function wavHeader({ rate, channels, bytesPerSample = 2, dataBytes }) {
  const frameBytes = channels * bytesPerSample;
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(dataBytes === undefined ? STREAMING_SIZE : WAV_HEADER_BYTES - 8 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * frameBytes, 28);
  header.writeUInt16LE(frameBytes, 32);
  header.writeUInt16LE(bytesPerSample * 8, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes ?? STREAMING_SIZE, 40);
  return header;
}

/**
 * PATTERN_BYTES of S16_LE audio, a different sine per channel. Each sine
 * makes a whole number of cycles within the pattern, so repeating it is
 * seamless: a deterministic, audible (never silent) signal of any length.
 */
export function sinePattern({ rate, channels }) {
  const frameBytes = channels * 2;
  const frames = PATTERN_BYTES / frameBytes;
  const pattern = Buffer.alloc(PATTERN_BYTES);
  for (let channel = 0; channel < channels; channel++) {
    // Near 440 Hz (550, 660, ...), rounded to whole cycles per pattern.
    const cycles = Math.round(((440 + 110 * channel) * frames) / rate);
    for (let frame = 0; frame < frames; frame++) {
      const sample = Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * cycles * frame) / frames));
      pattern.writeInt16LE(sample, frame * frameBytes + channel * 2);
    }
  }
  return pattern;
}

/** A whole WAV in memory: for the short bodies of the latency and overload benches. */
export function wavBuffer({ rate, channels, seconds }) {
  const dataBytes = Math.round(seconds * rate) * channels * 2;
  const pattern = sinePattern({ rate, channels });
  const body = Buffer.alloc(WAV_HEADER_BYTES + dataBytes);
  wavHeader({ rate, channels, dataBytes }).copy(body, 0);
  for (let offset = 0; offset < dataBytes; offset += PATTERN_BYTES) {
    pattern.copy(body, WAV_HEADER_BYTES + offset, 0, Math.min(PATTERN_BYTES, dataBytes - offset));
  }
  return body;
}

/**
 * A WAV body of `seconds` generated as it is read, in `pieceBytes` pieces:
 * a client streaming a long recording. Nothing is buffered beyond what the
 * reader asks for, so a slow (paced) server holds the client back.
 */
export function wavReadable({ rate, channels, seconds, pieceBytes = 64 * 1024 }) {
  const dataBytes = Math.round(seconds * rate) * channels * 2;
  const pattern = sinePattern({ rate, channels });
  return Readable.from(
    (function* pieces() {
      yield wavHeader({ rate, channels, dataBytes });
      for (let sent = 0; sent < dataBytes; ) {
        const offset = sent % PATTERN_BYTES;
        const piece = pattern.subarray(offset, offset + Math.min(pieceBytes, PATTERN_BYTES - offset, dataBytes - sent));
        sent += piece.length;
        yield piece;
      }
    })(),
    { objectMode: false },
  );
}
