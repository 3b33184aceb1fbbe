// Reads a WAVE fmt chunk (WAVEFORMATEX, or WAVEFORMATEXTENSIBLE) into the
// input format of the data chunk that follows it, or says exactly why it
// cannot be played.
import { MAX_CHANNELS, MAX_RATE, MIN_RATE, bytesPerSample, type AudioFormat, type InputSampleFormat } from './audio-format';
import { convertHint, invalidWav, unsupportedEncoding } from './wav-errors';

export const FMT_MIN_BYTES = 16;
const EXTENSIBLE_FMT_BYTES = 40;

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Names for the encodings clients most often send by mistake, so the refusal says what the file is. */
const ENCODING_NAMES = new Map<number, string>([
  [0x0002, 'ADPCM'],
  [0x0006, 'A-law'],
  [0x0007, 'µ-law'],
  [0x0011, 'IMA ADPCM'],
  [0x0031, 'GSM 6.10'],
  [0x0050, 'MPEG'],
  [0x0055, 'MP3'],
  [0x00ff, 'AAC'],
  [0xf1ac, 'FLAC'],
]);

// An extensible subformat GUID is a format tag followed by these 14 bytes
// (KSDATAFORMAT_SUBTYPE_PCM, _IEEE_FLOAT, ... all share them).
const SUBFORMAT_GUID_TAIL = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]);

const PCM_FORMATS = new Map<number, InputSampleFormat>([
  [8, 'U8'],
  [16, 'S16_LE'],
  [24, 'S24_3LE'],
  [32, 'S32_LE'],
]);
const FLOAT_FORMATS = new Map<number, InputSampleFormat>([
  [32, 'FLOAT_LE'],
  [64, 'FLOAT64_LE'],
]);

/** Interprets the body of a fmt chunk; throws E_INVALID_WAV or E_UNSUPPORTED_ENCODING (400). */
export function parseFmtChunk(fmt: Buffer): AudioFormat {
  if (fmt.length < FMT_MIN_BYTES) throw invalidWav(`fmt chunk too short (${fmt.length} bytes)`);
  const formatTag = fmt.readUInt16LE(0);
  const channels = fmt.readUInt16LE(2);
  const rate = fmt.readUInt32LE(4);
  // The byte rate at offset 8 is ignored: it only serves seeking, and
  // streaming writers often get it wrong.
  const blockAlign = fmt.readUInt16LE(12);
  const bitsPerSample = fmt.readUInt16LE(14);

  const encoding = formatTag === WAVE_FORMAT_EXTENSIBLE ? extensibleEncoding(fmt, bitsPerSample) : formatTag;
  const sampleFormat = sampleFormatOf(encoding, bitsPerSample, formatTag === WAVE_FORMAT_EXTENSIBLE);

  if (channels === 0) throw invalidWav('fmt chunk has 0 channels');
  if (channels > MAX_CHANNELS) {
    throw unsupportedEncoding(
      `fmt chunk has ${channels} channels; at most ${MAX_CHANNELS} are supported`,
      `downmix first, for example: ffmpeg -i in.wav -ac 2 -acodec pcm_s16le out.wav`,
    );
  }
  if (rate === 0) throw invalidWav('fmt chunk has a sample rate of 0 Hz');
  if (rate < MIN_RATE || rate > MAX_RATE) {
    throw unsupportedEncoding(
      `fmt chunk has a sample rate of ${rate} Hz, outside ${MIN_RATE} to ${MAX_RATE} Hz`,
      `resample first, for example: ffmpeg -i in.wav -ar 48000 -acodec pcm_s16le out.wav`,
    );
  }
  const sampleBytes = bytesPerSample(sampleFormat);
  if (blockAlign !== channels * sampleBytes) {
    throw invalidWav(
      `fmt chunk blockAlign is ${blockAlign}; it must equal channels × bytes per sample = ${channels} × ${sampleBytes} = ${channels * sampleBytes}`,
    );
  }
  return { sampleFormat, rate, channels };
}

/** The format tag inside a WAVE_FORMAT_EXTENSIBLE fmt chunk's subformat GUID. */
function extensibleEncoding(fmt: Buffer, bitsPerSample: number): number {
  // cbSize (offset 16) is not trusted: the chunk's own size says whether the extension is there.
  if (fmt.length < EXTENSIBLE_FMT_BYTES) {
    throw invalidWav(`WAVE_FORMAT_EXTENSIBLE fmt chunk too short (${fmt.length} bytes; it needs ${EXTENSIBLE_FMT_BYTES})`);
  }
  const validBits = fmt.readUInt16LE(18);
  // Fewer valid bits than the container (24 in 32) play as the container
  // format: the unused low bits are zero. 0 is read as "all of them".
  if (validBits > bitsPerSample) {
    throw invalidWav(`WAVE_FORMAT_EXTENSIBLE validBitsPerSample is ${validBits}, more than its ${bitsPerSample}-bit container`);
  }
  const guid = fmt.subarray(24, 40);
  if (!guid.subarray(2).equals(SUBFORMAT_GUID_TAIL)) {
    throw unsupportedEncoding(`unsupported WAVE_FORMAT_EXTENSIBLE subformat ${guidText(guid)}`);
  }
  return guid.readUInt16LE(0);
}

function sampleFormatOf(encoding: number, bitsPerSample: number, extensible: boolean): InputSampleFormat {
  if (encoding === WAVE_FORMAT_PCM) {
    const format = PCM_FORMATS.get(bitsPerSample);
    if (format === undefined) throw unsupportedEncoding(`unsupported PCM bit depth ${bitsPerSample}`);
    return format;
  }
  if (encoding === WAVE_FORMAT_IEEE_FLOAT) {
    const format = FLOAT_FORMATS.get(bitsPerSample);
    if (format === undefined) throw unsupportedEncoding(`unsupported IEEE float bit depth ${bitsPerSample}`);
    return format;
  }
  const name = ENCODING_NAMES.get(encoding);
  const where = extensible ? ' in WAVE_FORMAT_EXTENSIBLE' : '';
  const hex = `0x${encoding.toString(16).toUpperCase().padStart(4, '0')}`;
  const isMpeg = encoding === 0x0050 || encoding === 0x0055;
  throw unsupportedEncoding(`unsupported WAVE encoding ${hex}${name ? ` (${name})` : ''}${where}`, convertHint(isMpeg ? 'in.mp3' : 'in.wav'));
}

/** A GUID as Windows writes it: {00000001-0000-0010-8000-00AA00389B71}. */
function guidText(guid: Buffer): string {
  const hex = (b: Buffer) => b.toString('hex').toUpperCase();
  const data4 = guid.subarray(8);
  return (
    `{${guid.readUInt32LE(0).toString(16).toUpperCase().padStart(8, '0')}-` +
    `${guid.readUInt16LE(4).toString(16).toUpperCase().padStart(4, '0')}-` +
    `${guid.readUInt16LE(6).toString(16).toUpperCase().padStart(4, '0')}-` +
    `${hex(data4.subarray(0, 2))}-${hex(data4.subarray(2))}}`
  );
}
