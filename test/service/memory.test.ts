import t from 'tap';
import { readFileSync } from 'node:fs';
import { s16Pattern } from '../pcm-fixtures';
import { fileDeviceEnv, startServer, waitForStatus } from './server-process';

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** A body of `bytes` bytes of raw PCM, generated as it is sent. */
function generatedBody(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(s16Pattern(16384, 2)); // 64 KiB, sent again and again
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const piece = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
}

t.test('server RSS after a 1 GiB upload stays within a few MiB of a 100 MiB upload', async (t) => {
  // 1 GiB of 48 kHz stereo S16 is 93 minutes of audio.
  const server = await startServer(t, fileDeviceEnv('/dev/null', { MAX_STREAM_SECONDS: '7200' }));
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
  // Node's socket buffers and V8's young generation settle over the first
  // few hundred MiB; what must not happen is growth with the body's size.
  await upload(256 * 2 ** 20);
  await upload(100 * 2 ** 20);
  const afterSmall = rssMiB(server.child.pid!);
  await upload(2 ** 30);
  const afterLarge = rssMiB(server.child.pid!);
  t.ok(afterLarge - afterSmall < 8, `RSS ${idle.toFixed(1)} MiB idle, ${afterSmall.toFixed(1)} MiB after 100 MiB, ${afterLarge.toFixed(1)} MiB after 1 GiB`);
});
