import t from 'tap';
import { generatedBody, idleRssMiB, rssMiB } from './memory-fixtures';
import { fileDeviceEnv, shippedMemoryEnv, startServer, waitForStatus } from './server-process';

t.test('server RSS does not grow with body size: after warm-up, two more 1 GiB uploads add under 6 MiB', async (t) => {
  // 1 GiB of 48 kHz stereo S16 is 93 minutes of audio. The server runs with
  // the container's heap cap and malloc arenas (k8s/base/configmap.yaml):
  // without the cap, Node 24's V8 lets the old space grow for longer before
  // it collects, and RSS then says more about GC timing than about speakerd.
  const server = await startServer(t, fileDeviceEnv('/dev/null', { MAX_STREAM_SECONDS: '7200', LOG_LEVEL: 'debug', ...shippedMemoryEnv() }));
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
  // Each read once speakerd, idle, has given malloc's free pages back.
  await upload(100 * 2 ** 20);
  const afterSmall = await idleRssMiB(server, 1);
  await upload(2 ** 30);
  await upload(2 ** 30);
  const warm = await idleRssMiB(server, 3);
  await upload(2 ** 30);
  await upload(2 ** 30);
  const after = await idleRssMiB(server, 5);
  t.ok(after - warm < 6, `RSS ${idle.toFixed(1)} MiB idle, ${afterSmall.toFixed(1)} after 100 MiB, ${warm.toFixed(1)} after 2 GiB more, ${after.toFixed(1)} after 2 GiB more again`);
});
