// The mode decision and the probes. What needs the real process (the
// start-up log, /healthz before the device has opened, the exit code) runs
// the CLI; the rest runs the app in this process, over a real socket.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';
import { startInProcessApp } from './in-process-app';
import { fileDeviceEnv, startServer, untilLogged, waitForStatus } from './server-process';

t.test('auto mode with an empty AUDIO_SND_DIR plays headless and says why', async (t) => {
  const snd = path.join(scratchDir(t), 'snd');
  mkdirSync(snd);
  const server = await startServer(t, { AUDIO_MODE: 'auto', AUDIO_SND_DIR: snd });
  t.equal((await fetch(`${server.url}/livez`)).status, 200, '/livez answers from the start');
  const health = await waitForStatus(`${server.url}/healthz`, 200);
  t.same(await health.json(), { status: 'ok', mode: 'headless' });
  const ready = await fetch(`${server.url}/readyz`);
  t.equal(ready.status, 200);
  const device = (await (await fetch(`${server.url}/v1/device`)).json()) as Record<string, unknown>;
  t.equal(device.mode, 'headless');
  t.equal(device.headlessReason, `${snd} has no playback node (pcmC*D*p); found nothing`);
  t.equal(device.pcm, 'speakerd-clock');
  t.match(device.format, { access: 'mmap', rate: 48000, channels: 2, format: 'S16_LE' });
  const warning = await untilLogged(server, (l) => l.mode === 'headless');
  t.equal(warning?.msg, `playing headless: ${snd} has no playback node (pcmC*D*p); found nothing`, 'the log says why');
  const diagnostics = device.diagnostics as { ok: boolean; verdict: { code: string; hint: string } };
  t.equal(diagnostics.ok, false);
  t.equal(diagnostics.verdict.code, 'E_SND_ABSENT', '/v1/device carries the doctor\'s verdict');
  const logged = await untilLogged(server, (l) => typeof l.msg === 'string' && l.msg.startsWith('diagnostics: '));
  t.match(logged, { level: 40, msg: /^diagnostics: E_SND_ABSENT: / }, 'and so does the start-up log');
});

t.test('auto mode with a playback node whose device cannot open falls back to headless with the open error', async (t) => {
  const snd = path.join(scratchDir(t), 'snd');
  mkdirSync(snd);
  writeFileSync(path.join(snd, 'pcmC0D0p'), ''); // a name is all auto mode looks at
  const server = await startInProcessApp(t, { AUDIO_MODE: 'auto', AUDIO_SND_DIR: snd, AUDIO_DEVICE: 'hw:0,0' });
  t.equal((await fetch(`${server.url}/healthz`)).status, 200);
  const device = (await (await fetch(`${server.url}/v1/device`)).json()) as Record<string, unknown>;
  t.equal(device.mode, 'headless');
  t.equal(device.headlessReason, 'cannot open hw:0,0: cannot open PCM "hw:0,0": No such file or directory (E_ALSA_OPEN, errno 2)');
});

t.test('auto mode without the folder at all plays headless', async (t) => {
  const missing = path.join(scratchDir(t), 'no-such-dir');
  const server = await startInProcessApp(t, { AUDIO_MODE: 'auto', AUDIO_SND_DIR: missing });
  t.equal((await fetch(`${server.url}/healthz`)).status, 200);
  const device = (await (await fetch(`${server.url}/v1/device`)).json()) as Record<string, unknown>;
  t.equal(device.headlessReason, `${missing} is not there (ENOENT): no sound device is mounted into the container`);
});

t.test('/healthz answers 503 "starting" while the device opens, then 200; the event loop keeps answering', async (t) => {
  // The file plugin opens its output while applying hardware parameters; a
  // FIFO without a reader blocks that open, like a slow driver would.
  const fifo = path.join(scratchDir(t), 'slow.fifo');
  execFileSync('mkfifo', [fifo]);
  const server = await startServer(t, fileDeviceEnv(fifo));
  const starting = await fetch(`${server.url}/healthz`);
  t.equal(starting.status, 503);
  const STARTING = { status: 'starting', error: { code: 'E_NOT_READY', message: 'the audio device is still being opened', hint: 'wait: the startup probe allows for a slow card (AUDIO_OPEN_TIMEOUT_MS)' } };
  t.same(await starting.json(), STARTING);
  const notReady = await fetch(`${server.url}/readyz`);
  t.equal(notReady.status, 503);
  t.same(await notReady.json(), STARTING);
  t.equal((await fetch(`${server.url}/livez`)).status, 200, 'liveness holds while the device is still opening');
  const refused = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': 'audio/pcm;rate=48000;channels=2;format=s16le' }, body: Buffer.alloc(64) });
  t.equal(refused.status, 503);
  t.match(await refused.json(), { error: { code: 'E_NOT_READY', message: 'the audio device is still being opened' } });

  const reader = createReadStream(fifo); // the open completes
  reader.resume();
  t.teardown(() => reader.destroy());
  const ok = await waitForStatus(`${server.url}/healthz`, 200);
  t.same(await ok.json(), { status: 'ok', mode: 'device' });
  t.equal((await fetch(`${server.url}/readyz`)).status, 200);
});

t.test('AUDIO_MODE=device with a device that cannot open exits 1 with the reason', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'device', AUDIO_DEVICE: 'hw:7,0' });
  const [code] = await server.exited;
  t.equal(code, 1);
  const fatal = server.logs.find((l) => l.level === 60);
  t.equal(fatal?.msg, 'AUDIO_MODE=device and the device cannot be opened: cannot open hw:7,0: cannot open PCM "hw:7,0": No such file or directory (E_ALSA_OPEN, errno 2)');
});

t.test('AUDIO_MODE=headless never touches ALSA hardware', async (t) => {
  const server = await startInProcessApp(t, { AUDIO_MODE: 'headless', AUDIO_DEVICE: 'hw:7,0' });
  const health = await fetch(`${server.url}/healthz`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ok', mode: 'headless' });
  const device = (await (await fetch(`${server.url}/v1/device`)).json()) as Record<string, unknown>;
  t.equal(device.headlessReason, 'AUDIO_MODE=headless');
});
