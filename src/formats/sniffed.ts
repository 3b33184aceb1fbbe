// A body whose format its first bytes decide (sniff.ts): held until they do,
// then handed to the WAV or compressed decoder with the bytes held. With a
// declared type, the bytes must be of a kind it allows: anything else is
// E_FORMAT_MISMATCH, naming what was found; with none, a body that matches
// nothing is 415.
import { failure } from '../error-table';
import type { SpeakerdError } from '../errors';
import type { Codec } from './codec';
import { CompressedDecoder } from './compressed';
import type { BodyDecoder } from './decoder';
import { BODY_KIND_NAMES, DESCRIBED_BYTES, sniff, type BodyKind } from './sniff';
import { WavDecoder } from './wav';

/** The kinds speakerd plays, and the decoder each takes. */
const PLAYABLE: Partial<Record<BodyKind, () => BodyDecoder>> = {
  wav: () => new WavDecoder(),
  flac: () => new CompressedDecoder('flac'),
  opus: () => new CompressedDecoder('opus'),
  vorbis: () => new CompressedDecoder('vorbis'),
  mp3: () => new CompressedDecoder('mp3'),
  webm: () => new CompressedDecoder('webm'),
};

export const PLAYABLE_KINDS = Object.keys(PLAYABLE) as BodyKind[];

/** What the Content-Type allowed: undefined when it declared nothing (sniff freely). */
export interface Declared {
  contentType: string;
  kinds: readonly BodyKind[];
}

export class SniffedDecoder implements BodyDecoder {
  readonly #declared: Declared | undefined;
  readonly #hint: string;
  #inner: BodyDecoder | undefined;
  #head: Buffer = Buffer.alloc(0);
  #failure: SpeakerdError | undefined;

  constructor(declared: Declared | undefined, hint: string) {
    this.#declared = declared;
    this.#hint = hint;
  }

  get format() {
    return this.#inner?.format;
  }

  get codec(): Codec | undefined {
    return this.#inner?.codec;
  }

  get finished(): boolean {
    return this.#inner?.finished ?? false;
  }

  write(chunk: Buffer): Buffer[] {
    if (this.#inner) return this.#inner.write(chunk);
    if (this.#failure) throw this.#failure;
    this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
    const inner = this.#decide();
    if (inner === undefined) return [];
    const head = this.#head;
    this.#head = Buffer.alloc(0);
    return inner.write(head);
  }

  end(): { truncated: boolean } {
    if (this.#inner) return this.#inner.end();
    if (this.#failure) throw this.#failure;
    // Undecided at the end: too few bytes to be any header that plays.
    throw this.#fail(this.#head.length === 0 ? 'empty' : undefined);
  }

  #decide(): BodyDecoder | undefined {
    let kind = sniff(this.#head);
    if (kind === 'more') return undefined;
    // Declared WAV that is no known format: the WAV reader names what is
    // wrong with it more exactly (RIFX, a broken RIFF header ...).
    if (kind === undefined && this.#declared?.kinds.length === 1 && this.#declared.kinds[0] === 'wav') kind = 'wav';
    const create = kind && PLAYABLE[kind];
    if (kind === undefined || create === undefined || (this.#declared && !this.#declared.kinds.includes(kind))) {
      throw this.#fail(kind);
    }
    this.#inner = create();
    return this.#inner;
  }

  #fail(kind: BodyKind | 'empty' | undefined): SpeakerdError {
    const found = kind === 'empty' ? 'an empty body' : kind === undefined ? `bytes of no known audio format (${describeHead(this.#head)})` : BODY_KIND_NAMES[kind];
    if (this.#declared) {
      const expected = this.#declared.kinds.map((k) => BODY_KIND_NAMES[k]).join(' or ');
      this.#failure = failure('FORMAT_MISMATCH', { contentType: this.#declared.contentType, expected, found });
    } else {
      this.#failure = failure('UNRECOGNIZED_BODY', { found, hint: this.#hint });
    }
    return this.#failure;
  }
}

// The first bytes, printable ones as text: enough to see what a body is.
function describeHead(head: Buffer): string {
  const shown = head.subarray(0, Math.min(head.length, DESCRIBED_BYTES));
  return `starts with ${[...shown].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

