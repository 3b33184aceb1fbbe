// WAV files built in memory for the service tests.

export interface WavSpec {
  /** WAVE format tag: 1 PCM, 3 IEEE float. */
  formatTag: 1 | 3;
  channels: number;
  rate: number;
  bitsPerSample: number;
  /** The data chunk's size field; defaults to the data's length. */
  dataSizeField?: number;
}

export function wavHeader(spec: WavSpec, dataBytes: number): Buffer {
  const blockAlign = spec.channels * (spec.bitsPerSample / 8);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(spec.dataSizeField === undefined ? 36 + dataBytes : 0xffffffff, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(spec.formatTag, 20);
  header.writeUInt16LE(spec.channels, 22);
  header.writeUInt32LE(spec.rate, 24);
  header.writeUInt32LE(spec.rate * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(spec.bitsPerSample, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(spec.dataSizeField ?? dataBytes, 40);
  return header;
}

export function wav(spec: WavSpec, data: Buffer): Buffer {
  return Buffer.concat([wavHeader(spec, data.length), data]);
}
