// Streams a RIFF/WAVE body. The chunks before the audio are walked by a
// small state machine that holds at most one chunk header or one fmt chunk
// in memory; the data chunk then passes through as whole frames. RF64 and
// BW64 (the 64-bit variants) are read too: their ds64 chunk carries the
// data size that does not fit in 32 bits.
import { SpeakerdError } from '../errors';
import { frameBytes, type AudioFormat } from './audio-format';
import type { BodyDecoder } from './decoder';
import { FrameSplitter } from './frame-splitter';
import { convertHint, invalidWav, unsupportedEncoding } from './wav-errors';
import { parseFmtChunk } from './wav-fmt';

/** The largest fmt chunk accepted; a real one is 16 to 40 bytes. */
export const FMT_CHUNK_LIMIT = 4096;
/** The most bytes a body may spend before its audio starts (data chunk header included), so that a client cannot keep the server reading metadata forever. */
export const HEADER_LIMIT = 1024 * 1024;

const RIFF_HEADER_BYTES = 12;
const CHUNK_HEADER_BYTES = 8;
/** riffSize, dataSize and sampleCount (64-bit each), then the table length. */
const DS64_BYTES = 28;
/** Data sizes that writers which cannot seek back (espeak-ng --stdout) put in for "as much as there will be". */
const PLACEHOLDER_SIZE_MIN = 0x7ffff000;
const UNKNOWN_SIZE = 0xffffffff;

type Stage =
  | 'riff-header' // collecting the 12 bytes "RIFF" size "WAVE"
  | 'chunk-header' // collecting a chunk id and size
  | 'fmt' // collecting a fmt chunk
  | 'ds64' // collecting the start of an RF64 ds64 chunk
  | 'skip' // passing over a chunk that carries no audio
  | 'data' // in the audio
  | 'after-data'; // past the declared audio: the rest of the body is ignored

const NOT_WAV_HINT =
  'send a WAV file (for example: ffmpeg -i in.mp3 -f wav -acodec pcm_s16le out.wav), or raw PCM as audio/pcm;rate=R;channels=C;format=s16le';

export class WavDecoder implements BodyDecoder {
  #format: AudioFormat | undefined;
  #stage: Stage = 'riff-header';
  #failure: SpeakerdError | undefined;
  /** Body bytes received so far. */
  #received = 0;

  // The piece of header being collected, and how long it must get.
  #piece = Buffer.alloc(RIFF_HEADER_BYTES);
  #pieceLength = 0;
  #need = RIFF_HEADER_BYTES;

  /** Where in the body the chunk being read starts. */
  #chunkStart = RIFF_HEADER_BYTES;
  #chunkSize = 0;
  #skipRemaining = 0;

  #rf64 = false;
  #ds64DataSize: number | undefined;
  #fmt: AudioFormat | undefined;

  #splitter: FrameSplitter | undefined;
  /** Audio bytes still to come from the data chunk; Infinity until the body ends. */
  #audioRemaining = Infinity;
  /** False when the declared size is a placeholder: then a body ending before it is not truncated. */
  #declaredSizeIsReal = false;

  /** Known once the data chunk starts. */
  readonly codec = undefined;

  get format(): AudioFormat | undefined {
    return this.#format;
  }

  get finished(): boolean {
    return this.#stage === 'after-data';
  }

  write(chunk: Buffer): Buffer[] {
    return this.#failOnce(() => this.#consume(chunk));
  }

  end(): { truncated: boolean } {
    return this.#failOnce(() => this.#finish());
  }

  // A decoder that refused its body keeps refusing it with the same error.
  #failOnce<T>(step: () => T): T {
    if (this.#failure) throw this.#failure;
    try {
      return step();
    } catch (error) {
      if (error instanceof SpeakerdError) this.#failure = error;
      throw error;
    }
  }

  #consume(chunk: Buffer): Buffer[] {
    const chunkOffsetInBody = this.#received;
    this.#received += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.#stage) {
        case 'data':
          return this.#audio(chunk.subarray(offset));
        case 'after-data':
          return [];
        case 'skip': {
          const skipped = Math.min(this.#skipRemaining, chunk.length - offset);
          offset += skipped;
          this.#skipRemaining -= skipped;
          if (this.#skipRemaining === 0) this.#expectChunkHeader(chunkOffsetInBody + offset);
          break;
        }
        default: {
          const taken = Math.min(this.#need - this.#pieceLength, chunk.length - offset);
          chunk.copy(this.#piece, this.#pieceLength, offset, offset + taken);
          this.#pieceLength += taken;
          offset += taken;
          if (this.#pieceLength === this.#need) this.#onPiece(this.#piece.subarray(0, this.#need), chunkOffsetInBody + offset);
        }
      }
    }
    return [];
  }

  #finish(): { truncated: boolean } {
    if (this.#stage === 'data' || this.#stage === 'after-data') {
      const endedInsideFrame = (this.#splitter?.partialBytes ?? 0) > 0;
      const endedBeforeDeclaredSize = this.#stage === 'data' && this.#declaredSizeIsReal;
      return { truncated: endedInsideFrame || endedBeforeDeclaredSize };
    }
    const hint = 'send the whole file: the audio starts after the fmt chunk and the data chunk header';
    if (this.#received === 0) throw invalidWav('the body is empty: a WAV file was expected', hint);
    throw invalidWav(`the body ended inside the WAV header (after ${this.#received} bytes)`, hint);
  }

  #startCollecting(stage: Stage, bytes: number): void {
    this.#stage = stage;
    this.#need = bytes;
    this.#pieceLength = 0;
    if (this.#piece.length < bytes) this.#piece = Buffer.alloc(bytes);
  }

  #expectChunkHeader(position: number): void {
    this.#chunkStart = position;
    this.#startCollecting('chunk-header', CHUNK_HEADER_BYTES);
  }

  #skip(bytes: number, position: number): void {
    if (bytes === 0) return this.#expectChunkHeader(position);
    this.#stage = 'skip';
    this.#skipRemaining = bytes;
  }

  /** `piece` is complete; `position` is where the body continues after it. */
  #onPiece(piece: Buffer, position: number): void {
    switch (this.#stage) {
      case 'riff-header':
        this.#readRiffHeader(piece);
        return this.#expectChunkHeader(position);
      case 'chunk-header':
        return this.#readChunkHeader(piece, position);
      case 'fmt':
        this.#fmt = parseFmtChunk(piece.subarray(0, this.#chunkSize));
        return this.#expectChunkHeader(position);
      case 'ds64': {
        const dataSize = piece.readBigUInt64LE(8);
        // Beyond 2^53 bytes the size is as good as unknown.
        this.#ds64DataSize = dataSize <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(dataSize) : undefined;
        return this.#skip(padded(this.#chunkSize) - DS64_BYTES, position);
      }
    }
  }

  #readRiffHeader(header: Buffer): void {
    const magic = header.toString('latin1', 0, 4);
    if (magic === 'RIFX') throw unsupportedEncoding('big-endian RIFX WAV is not supported', convertHint());
    if (magic === 'RF64' || magic === 'BW64') this.#rf64 = true;
    else if (magic !== 'RIFF') throw invalidWav(`not a RIFF file: it starts with ${describeStart(header)}`, NOT_WAV_HINT);
    // The RIFF size (bytes 4..8) is ignored: streaming writers leave it 0,
    // 0xFFFFFFFF or a guess, and the data chunk says where the audio ends.
    if (header.toString('latin1', 8, 12) !== 'WAVE') {
      throw invalidWav(`a RIFF file of type ${fourCC(header.subarray(8, 12))}, not WAVE`, NOT_WAV_HINT);
    }
  }

  #readChunkHeader(header: Buffer, position: number): void {
    const idBytes = header.subarray(0, 4);
    if (!idBytes.every((b) => b >= 0x20 && b <= 0x7e)) {
      throw invalidWav(
        `bytes ${hexBytes(idBytes)} at byte ${this.#chunkStart} are not a chunk id; the chunk before them may have a wrong size or lack its pad byte`,
      );
    }
    const id = idBytes.toString('latin1');
    const size = header.readUInt32LE(4);
    this.#chunkSize = size;
    if (id === 'data') return this.#startData(size);
    if (id === 'fmt ') {
      if (this.#fmt) throw invalidWav(`a second fmt chunk at byte ${this.#chunkStart}`);
      if (size > FMT_CHUNK_LIMIT) throw invalidWav(`fmt chunk of ${size} bytes is larger than the limit of ${FMT_CHUNK_LIMIT}`);
    }
    // Room is kept for the data chunk header, which must still follow.
    const chunkEnd = position + padded(size);
    if (chunkEnd + CHUNK_HEADER_BYTES > HEADER_LIMIT) {
      throw invalidWav(
        `the ${fourCC(idBytes)} chunk of ${size} bytes at byte ${this.#chunkStart} would make the header longer than the limit of ${HEADER_LIMIT} bytes before the audio`,
        `put the data chunk within the first ${HEADER_LIMIT} bytes, for example by dropping metadata: ffmpeg -i in.wav -map_metadata -1 -f wav -acodec pcm_s16le out.wav`,
      );
    }
    if (id === 'fmt ') return this.#startCollecting('fmt', padded(size));
    if (id === 'ds64' && this.#rf64) {
      if (size < DS64_BYTES) throw invalidWav(`ds64 chunk too short (${size} bytes; it needs ${DS64_BYTES})`);
      return this.#startCollecting('ds64', DS64_BYTES);
    }
    // LIST, fact, cue, bext, JUNK, ...: nothing speakerd needs.
    this.#skip(padded(size), position);
  }

  #startData(size: number): void {
    if (!this.#fmt) {
      throw invalidWav('fmt chunk missing', 'a WAV file needs its fmt chunk before the data chunk: check the program that wrote it');
    }
    this.#format = this.#fmt;
    this.#splitter = new FrameSplitter(frameBytes(this.#fmt));
    this.#stage = 'data';
    // A ds64 data size of 0 is a streaming writer's placeholder, like a 32-bit size of 0.
    if (this.#rf64 && size === UNKNOWN_SIZE && this.#ds64DataSize) {
      this.#audioRemaining = this.#ds64DataSize;
      this.#declaredSizeIsReal = true;
    } else if (size === 0 || size === UNKNOWN_SIZE) {
      // Streaming writers: the audio runs until the body ends.
      this.#audioRemaining = Infinity;
    } else {
      // A placeholder still bounds the audio, but a body shorter than it is how such streams always end.
      this.#audioRemaining = size;
      this.#declaredSizeIsReal = size < PLACEHOLDER_SIZE_MIN;
    }
  }

  #audio(bytes: Buffer): Buffer[] {
    const audio = bytes.length <= this.#audioRemaining ? bytes : bytes.subarray(0, this.#audioRemaining);
    this.#audioRemaining -= audio.length;
    // Chunks after the data chunk (LIST, id3, ...) are not audio and are never parsed.
    if (this.#audioRemaining === 0) this.#stage = 'after-data';
    return this.#splitter!.split(audio);
  }
}

/** RIFF chunks start on even offsets: an odd-sized chunk is followed by a pad byte. */
function padded(size: number): number {
  return size + (size & 1);
}

function hexBytes(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** A four-character code as text when it is text, as hex otherwise. */
function fourCC(bytes: Buffer): string {
  return bytes.every((b) => b >= 0x20 && b <= 0x7e) ? JSON.stringify(bytes.toString('latin1')) : hexBytes(bytes);
}

// Bodies sent as audio/wav that are something else, by their first bytes.
const KNOWN_STARTS: [test: (b: Buffer) => boolean, name: string][] = [
  [(b) => b.toString('latin1', 0, 3) === 'ID3', 'MP3 (an ID3 tag)'],
  [(b) => b[0] === 0xff && (b[1]! & 0xe0) === 0xe0, 'MPEG audio (MP3)'],
  [(b) => b.toString('latin1', 0, 4) === 'OggS', 'Ogg'],
  [(b) => b.toString('latin1', 0, 4) === 'fLaC', 'FLAC'],
  [(b) => b.toString('latin1', 0, 4) === 'FORM', 'AIFF'],
];

function describeStart(header: Buffer): string {
  const start = fourCC(header.subarray(0, 4));
  const known = KNOWN_STARTS.find(([test]) => test(header));
  return known ? `${start}, which looks like ${known[1]}` : `${start} instead of "RIFF"`;
}
