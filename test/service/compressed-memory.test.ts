// A compressed upload's memory: decoded as it arrives, so the server's RSS
// does not follow the body's length. Its own file, with its own time limit:
// 2 GiB of FLAC takes 15 s on a quiet machine and over a minute when the
// suite's other file shares the two cores.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { encode, flacHeadAndFrames, noiseS16, writeWav } from '../compressed-fixtures';
import { scratchDir } from '../pcm-fixtures';
import { generatedBody, idleRssMiB } from './memory-fixtures';
import { fileDeviceEnv, shippedMemoryEnv, startServer, waitForStatus } from './server-process';

t.setTimeout(300_000);

t.test('a compressed upload is decoded as it arrives: a 2 GiB FLAC leaves RSS within 2 MiB of a 100 MiB one', async (t) => {
  // Noise, which FLAC keeps nearly verbatim: 2 GiB is about 3 hours of 48 kHz
  // stereo, decoded unpaced into /dev/null. Settings as in the test above.
  const dir = scratchDir(t);
  const { head, frames } = flacHeadAndFrames(readFileSync(encode('flac', writeWav(dir, 'noise', noiseS16(48000, 2), 48000, 2))));
  const server = await startServer(t, fileDeviceEnv('/dev/null', { MAX_STREAM_SECONDS: '86400', LOG_LEVEL: 'debug', ...shippedMemoryEnv() }));
  await waitForStatus(`${server.url}/healthz`, 200);
  const upload = async (bytes: number) => {
    // Whole frames only: the body is a multiple of the repeated part after the head.
    const repeats = Math.floor((bytes - head.length) / frames.length);
    const response = await fetch(`${server.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'audio/flac' },
      body: generatedBody(head.length + repeats * frames.length, frames, head),
      duplex: 'half',
    } as RequestInit);
    t.equal(response.status, 200);
    const answer = (await response.json()) as { frames: number; codec: string; decodeErrors: number; truncated: boolean };
    t.same({ frames: answer.frames, codec: answer.codec, decodeErrors: answer.decodeErrors, truncated: answer.truncated }, { frames: repeats * 48000, codec: 'flac', decodeErrors: 0, truncated: false }, `${repeats} s of audio, every frame decoded`);
  };
  // Warm-up as above: the first uploads settle V8's heap and the socket
  // buffers. RSS is read once speakerd, idle, has given malloc's free pages
  // back: before, it held 2-4 MiB more or less after each upload, as V8's GC
  // helpers happened to leave their arena (native/src/c_heap.h).
  await upload(100 * 2 ** 20);
  await upload(100 * 2 ** 20);
  const afterSmall = await idleRssMiB(server, 2);
  await upload(2 * 2 ** 30);
  const afterBig = await idleRssMiB(server, 3);
  t.ok(afterBig - afterSmall < 2, `RSS ${afterSmall.toFixed(1)} MiB after 100 MiB of FLAC, ${afterBig.toFixed(1)} MiB after 2 GiB`);
});
