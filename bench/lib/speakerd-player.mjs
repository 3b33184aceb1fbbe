// Plays the data part of a WAV file through speakerd's engine the way a
// producer is meant to: file read stream in, Stream.writeAll per chunk.
import fs from 'node:fs';
import { createRequire } from 'node:module';

import { ownCpuSeconds } from './cpu-time.mjs';

const require = createRequire(import.meta.url);
const { openDevice, alsaLibVersion } = require('../../dist/engine/native.js');

/** The alsa-lib speakerd is statically linked with (aplay uses the system's). */
export const engineAlsaLibVersion = alsaLibVersion;

/**
 * Opens `pcm` with underrun 'wait' (unpaced PCMs must not get invented
 * silence, as with aplay), streams `dataBytes` from `wavPath` at `dataOffset`
 * into one stream, and resolves with the wall and CPU seconds (this whole
 * process: JS, file reads, playback thread) from the first read until the
 * stream is done. Device open and close are outside the timing.
 */
export async function playThroughSpeakerd({ wavPath, dataOffset, dataBytes, pcm, format, ringFrames, readChunkBytes }) {
  const device = await openDevice({ pcm: pcm.name, alsaConfig: pcm.definition, ...format, underrun: 'wait' });
  try {
    const stream = device.createStream(ringFrames === undefined ? {} : { ringFrames });
    const ringCapacityFrames = stream.stats().capacityFrames;
    const frameBytes = device.info.frameBytes;

    const cpuBefore = ownCpuSeconds();
    const started = process.hrtime.bigint();
    // Two reused buffers: the next chunk is read while the current one goes
    // into the ring, as aplay's reader and writer overlap through the pipe.
    // A fresh buffer per chunk (fs.createReadStream) costs page faults that
    // aplay, reading into one buffer, never pays.
    const file = await fs.promises.open(wavPath, 'r');
    try {
      const buffers = [Buffer.allocUnsafe(readChunkBytes), Buffer.allocUnsafe(readChunkBytes)];
      const end = dataOffset + dataBytes;
      const readAt = (buffer, position) =>
        position >= end ? Promise.resolve(0) : file.read(buffer, 0, Math.min(buffer.length, end - position), position).then((r) => r.bytesRead);
      let position = dataOffset;
      let current = 0;
      let pending = readAt(buffers[current], position);
      for (;;) {
        const bytes = await pending;
        if (bytes === 0) break;
        position += bytes;
        const next = readAt(buffers[1 - current], position);
        // Regular files read in full chunks, so chunks stay whole frames; a
        // short read would be rejected by write() rather than silently shift.
        if (!(await stream.writeAll(buffers[current].subarray(0, bytes)))) throw new Error(`speakerd stream on ${pcm.name} ended while writing`);
        current = 1 - current;
        pending = next;
      }
    } finally {
      await file.close();
    }
    stream.end();
    const result = await stream.finished();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuSeconds = ownCpuSeconds() - cpuBefore;

    const expectedFrames = dataBytes / frameBytes;
    if (result.outcome !== 'played' || result.frames !== expectedFrames) {
      throw new Error(`speakerd on ${pcm.name}: outcome ${result.outcome}, ${result.frames} of ${expectedFrames} frames played`);
    }
    return { seconds, cpuSeconds, ringCapacityFrames };
  } finally {
    await device.close();
  }
}
