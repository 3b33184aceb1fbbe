import t from 'tap';
import { readFileSync } from 'node:fs';
import { encode, flacHeadAndFrames, noiseS16, writeWav } from '../compressed-fixtures';
import { s16Pattern, scratchDir } from '../pcm-fixtures';
import { fileDeviceEnv, startServer, waitForStatus } from './server-process';

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** A body of `bytes` bytes: `head` once, then `chunk` again and again, generated as it is sent. */
function generatedBody(bytes: number, chunk: Uint8Array = new Uint8Array(s16Pattern(16384, 2)), head?: Uint8Array): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (head && sent === 0) {
        sent = head.length;
        return controller.enqueue(head);
      }
      if (sent >= bytes) return controller.close();
      const piece = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
}

t.test('server RSS does not grow with body size: after warm-up, two more 1 GiB uploads add under 6 MiB', async (t) => {
  // 1 GiB of 48 kHz stereo S16 is 93 minutes of audio. The server runs with
  // the container's heap cap and malloc arenas (k8s/base/configmap.yaml):
  // without the cap, Node 24's V8 lets the old space grow for longer before
  // it collects, and RSS then says more about GC timing than about speakerd.
  const server = await startServer(t, fileDeviceEnv('/dev/null', { MAX_STREAM_SECONDS: '7200', NODE_OPTIONS: '--max-old-space-size=96', MALLOC_ARENA_MAX: '2' }));
  await waitForStatus(`${server.url}/healthz`, 200);
  const upload = async (bytes: number) => {
    const response = await fetch(`${server.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'audio/pcm;rate=48000;channels=2;format=s16le' },
      body: generatedBody(bytes),
      duplex: 'half',
    } as RequestInit);
    t.equal(response.status, 200);
    t.equal(((await response.json()) as { frames: number }).frames, bytes / 4);
  };
  const idle = rssMiB(server.child.pid!);
  // Socket buffers, V8's heap and (with OpenTelemetry on) its context
  // bookkeeping settle over the first GiB or two, by 8 to 28 MiB (measured
  // on Node 20 and 24); then RSS stays flat. Growth with the body's size
  // would show in the two uploads after that.
  await upload(100 * 2 ** 20);
  const afterSmall = rssMiB(server.child.pid!);
  await upload(2 ** 30);
  await upload(2 ** 30);
  const warm = rssMiB(server.child.pid!);
  await upload(2 ** 30);
  await upload(2 ** 30);
  const after = rssMiB(server.child.pid!);
  t.ok(after - warm < 6, `RSS ${idle.toFixed(1)} MiB idle, ${afterSmall.toFixed(1)} after 100 MiB, ${warm.toFixed(1)} after 2 GiB more, ${after.toFixed(1)} after 2 GiB more again`);
});

t.test('a compressed upload is decoded as it arrives: a 2 GiB FLAC leaves RSS within 2 MiB of a 100 MiB one', async (t) => {
  // Noise, which FLAC keeps nearly verbatim: 2 GiB is about 3 hours of 48 kHz
  // stereo, decoded unpaced into /dev/null. Settings as in the test above.
  const dir = scratchDir(t);
  const { head, frames } = flacHeadAndFrames(readFileSync(encode('flac', writeWav(dir, 'noise', noiseS16(48000, 2), 48000, 2))));
  const server = await startServer(t, fileDeviceEnv('/dev/null', { MAX_STREAM_SECONDS: '86400', NODE_OPTIONS: '--max-old-space-size=96', MALLOC_ARENA_MAX: '2' }));
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
  // Warm-up as above: the first uploads settle V8's heap and the socket buffers.
  await upload(100 * 2 ** 20);
  await upload(100 * 2 ** 20);
  const afterSmall = rssMiB(server.child.pid!);
  await upload(2 * 2 ** 30);
  const afterBig = rssMiB(server.child.pid!);
  t.ok(afterBig - afterSmall < 2, `RSS ${afterSmall.toFixed(1)} MiB after 100 MiB of FLAC, ${afterBig.toFixed(1)} MiB after 2 GiB`);
});
