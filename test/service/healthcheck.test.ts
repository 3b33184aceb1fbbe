// `speakerd healthcheck`, the container image's HEALTHCHECK: exit 0 only
// when the running service's /healthz answers 200, exit 1 with the reason
// otherwise. Run as a real process against a real server.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';
import { nodeAsShipped } from '../node-as-shipped';
import { startServer, untilLogged, waitForStatus } from './server-process';

const cli = path.resolve(__dirname, '../../dist/cli.js');

// The timeout only stops a hang; a healthcheck killed by it has a signal and no status.
function healthcheck(env: Record<string, string>) {
  const [command, ...args] = nodeAsShipped([cli, 'healthcheck']);
  return spawnSync(command, args, { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 });
}

const portOf = (url: string) => new URL(url).port;

t.test('a ready service: exit 0 and the /healthz answer on stdout', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'headless' });
  await waitForStatus(`${server.url}/healthz`, 200);
  const result = healthcheck({ PORT: portOf(server.url), HOST: '0.0.0.0' });
  t.equal(result.status, 0);
  t.equal(result.stdout, `speakerd: http://127.0.0.1:${portOf(server.url)}/healthz: 200 {"status":"ok","mode":"headless"}\n`, 'a wildcard HOST is probed on loopback');
  t.equal(result.stderr, '');
});

t.test('with PROBE_PORT set, it asks the probe port (as the manifest\'s probes do)', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'headless', PROBE_PORT: '0' });
  const line = await untilLogged(server, (entry) => String(entry.msg).startsWith('probes (only) listening at '));
  const probePort = new URL(String(line.msg).slice('probes (only) listening at '.length)).port;
  await waitForStatus(`${server.url}/healthz`, 200);
  const result = healthcheck({ PORT: '1', PROBE_PORT: probePort, HOST: '127.0.0.1' });
  t.equal(result.status, 0, 'PORT=1 would refuse: the probe port answered');
  t.equal(result.stdout, `speakerd: http://127.0.0.1:${probePort}/healthz: 200 {"status":"ok","mode":"headless"}\n`);
});

t.test('a device still opening: exit 1 with the 503 and its body', async (t) => {
  const file = path.join(scratchDir(t), 'out.raw');
  const server = await startServer(t, {
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: 'slow',
    AUDIO_UNDERRUN: 'wait',
    AUDIO_ALSA_CONFIG: `pcm.out { type file slave.pcm null file "${file}" format raw }\npcm.slow { type speakerd_fault slave.pcm "out" open_delay_ms 3000 delay_opens 1 }`,
  });
  const result = healthcheck({ PORT: portOf(server.url), HOST: '127.0.0.1' });
  t.equal(result.status, 1);
  t.equal(
    result.stderr,
    `speakerd: http://127.0.0.1:${portOf(server.url)}/healthz: 503 {"status":"starting","error":{"code":"E_NOT_READY","message":"the audio device is still being opened","hint":"wait: the startup probe allows for a slow card (AUDIO_OPEN_TIMEOUT_MS)"}}\n`,
  );
  t.equal(result.stdout, '');
  await waitForStatus(`${server.url}/healthz`, 200, 10_000);
  t.equal(healthcheck({ PORT: portOf(server.url), HOST: '127.0.0.1' }).status, 0, 'and exit 0 once it is open');
});

t.test('an IPv6 wildcard HOST is probed on ::1', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'headless', HOST: '::1' });
  await waitForStatus(`${server.url}/healthz`, 200);
  const port = portOf(server.url);
  const result = healthcheck({ PORT: port, HOST: '::' });
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, `http://[::1]:${port}/healthz: 200`);
});

t.test('nothing listening: exit 1 with the connection error, not the no-answer timeout', async (t) => {
  // A port that was free a moment ago: nothing listens there now.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = String((closed.address() as { port: number }).port);
  await new Promise((resolve) => closed.close(resolve));
  const result = healthcheck({ PORT: port });
  t.equal(result.status, 1);
  t.equal(result.signal, null);
  t.equal(result.stderr, `speakerd: http://127.0.0.1:${port}/healthz: ECONNREFUSED\n`, 'the refusal is the answer: no waiting for the 2.5 s timeout');
});

t.test('a service that accepts but never answers: exit 1 after the 2.5 s timeout', async (t) => {
  const silent = createServer(() => {}); // holds every connection open, says nothing
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { silent.close(); });
  const port = String((silent.address() as { port: number }).port);
  // The request reached the server and was never answered, and the
  // healthcheck gave up by itself: exit 1 with the timeout's message, no signal.
  let requested = false;
  silent.on('connection', (socket) => socket.once('data', () => (requested = true)));
  const result = await new Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    const [command, ...args] = nodeAsShipped([cli, 'healthcheck']);
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', PORT: port, HOST: '127.0.0.1' } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('close', (status, signal) => resolve({ status, signal, stderr }));
  });
  t.equal(result.status, 1);
  t.equal(result.signal, null);
  t.equal(result.stderr, `speakerd: http://127.0.0.1:${port}/healthz: no answer within 2500 ms\n`);
  t.ok(requested, 'it asked, and got nothing');
});

t.test('an invalid PORT: exit 1 naming the variable', async (t) => {
  const result = healthcheck({ PORT: 'eighty' });
  t.equal(result.status, 1);
  t.match(result.stderr, /^speakerd: PORT="eighty": /);
});
