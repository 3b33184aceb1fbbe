// A card another process holds (the host's PulseAudio, typically): a hw PCM
// takes one client at a time, so opening it answers EBUSY.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { doctorJson } from '../../diagnostics/fixtures/doctor-process';
import { getJson, startServer, waitForStatus } from '../lib/speakerd';

t.test('a busy card: doctor says E_SND_EBUSY, auto mode plays headless with that reason, and takes the card once it is free', { timeout: 240_000 }, async (t) => {
  const holder = spawn('aplay', ['-q', '-D', 'hw:Loopback,0,0', '-f', 'S16_LE', '-r', '48000', '-c', '2', '-t', 'raw', '/dev/zero'], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  // aplay holds the device once the kernel shows its substream running.
  while (!/^state: RUNNING$/m.test(readFileSync('/proc/asound/card0/pcm0p/sub0/status', 'utf8'))) {
    if (holder.exitCode !== null) throw new Error(`aplay exited ${holder.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  const { status, report } = doctorJson({ AUDIO_DEVICE: 'hw:Loopback,0,0' });
  t.equal(status, 1);
  t.equal(report.verdict.code, 'E_SND_EBUSY');
  t.equal(report.verdict.message, 'opening hw:Loopback,0,0 failed with EBUSY: another process holds the device');

  const server = await startServer(t, { AUDIO_MODE: 'auto', AUDIO_DEVICE: 'hw:Loopback,0,0', AUDIO_REOPEN_MIN_MS: '50', AUDIO_REOPEN_MAX_MS: '200' });
  await waitForStatus(`${server.url}/healthz`, 200, 120_000);
  const headless = await getJson(`${server.url}/v1/device`);
  t.equal(headless.body.mode, 'headless');
  t.equal(headless.body.headlessReason, 'cannot open hw:Loopback,0,0: cannot open PCM "hw:Loopback,0,0": Device or resource busy (E_ALSA_OPEN, errno 16)');
  t.equal(headless.body.diagnostics.verdict.code, 'E_SND_EBUSY');
  t.equal((await getJson(`${server.url}/readyz`)).status, 200, 'ready: headless plays');

  const exited = once(holder, 'exit');
  holder.kill('SIGTERM');
  await exited;
  let mode = 'headless';
  while (mode !== 'device') {
    await new Promise((resolve) => setTimeout(resolve, 50));
    mode = (await getJson(`${server.url}/v1/device`)).body.mode;
  }
  t.equal(mode, 'device', 'once aplay let go, the card is taken');
});
