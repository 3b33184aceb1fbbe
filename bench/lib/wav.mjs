// Writes the test signal the throughput bench plays: a canonical 44-byte
// WAV header followed by PCM data, produced block by block so that even a
// multi-GiB file never sits in memory.
import fs from 'node:fs/promises';

export const WAV_HEADER_BYTES = 44;

/** The header of a PCM WAV whose data chunk starts right after it. */
export function wavHeader({ rate, channels, bytesPerSample, dataBytes }) {
  const frameBytes = channels * bytesPerSample;
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4);
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
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

/**
 * One second of S16_LE audio, a different sine per channel. Whole-hertz
 * frequencies make the second loop seamlessly, so repeating it yields a
 * deterministic, audible (never silent) signal of any length.
 */
function oneSecondOfSines(rate, channels) {
  const amplitude = 0.5 * 32767;
  const block = Buffer.alloc(rate * channels * 2);
  for (let frame = 0; frame < rate; frame++) {
    for (let channel = 0; channel < channels; channel++) {
      const hertz = 440 + 110 * channel;
      const sample = Math.round(amplitude * Math.sin((2 * Math.PI * hertz * frame) / rate));
      block.writeInt16LE(sample, (frame * channels + channel) * 2);
    }
  }
  return block;
}

/** Writes an S16_LE WAV with `dataBytes` (whole frames) of audio to `path`. */
export async function writeTestWav(path, { rate, channels, dataBytes }) {
  const frameBytes = channels * 2;
  if (dataBytes % frameBytes !== 0) throw new RangeError(`dataBytes must be whole frames of ${frameBytes} bytes`);
  // The RIFF size field is 32 bits.
  if (WAV_HEADER_BYTES - 8 + dataBytes > 0xffffffff) throw new RangeError('a WAV file holds at most 4 GiB');
  const block = oneSecondOfSines(rate, channels);
  const file = await fs.open(path, 'w');
  try {
    await file.write(wavHeader({ rate, channels, bytesPerSample: 2, dataBytes }));
    for (let written = 0; written < dataBytes; written += block.length) {
      await file.write(block, 0, Math.min(block.length, dataBytes - written));
    }
    // Flush now: otherwise the kernel writes the dirty pages back while the
    // first measurements run, and slows whichever tool happens to go first.
    await file.sync();
  } finally {
    await file.close();
  }
}
