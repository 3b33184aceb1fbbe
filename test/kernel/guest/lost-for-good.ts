// A card that does not come back where it was: snd-aloop is unloaded and
// loaded again as card 2, so plughw:0,0 is gone for good. In Kubernetes a
// running container never gains device nodes it did not get at start, so
// only a restart can reach such a card: after AUDIO_LOST_RESTART_S /livez
// fails, the kubelet restarts the pod, and auto mode decides again.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cards, giveNodesToAudioGroup, LOOPBACK, run, unplug } from '../lib/sound-card';
import { getJson, ms, nthLogLine, startServer, statusSeen, waitForStatus, type ServerProcess } from '../lib/speakerd';

const ENV = { AUDIO_MODE: 'auto', AUDIO_DEVICE: 'plughw:0,0', AUDIO_LOST_RESTART_S: '2', AUDIO_REOPEN_MIN_MS: '50', AUDIO_REOPEN_MAX_MS: '500' };

t.test('a card gone for good: /livez 503 after AUDIO_LOST_RESTART_S, and the restarted process decides its mode again', { timeout: 240_000 }, async (t) => {
  const servers: ServerProcess[] = [];
  t.teardown(async () => {
    for (const server of servers) await server.stop();
    // Card 0 is the loopback again for whatever runs next.
    spawnSync('sh', ['-c', 'rmmod snd_aloop; modprobe snd-aloop index=0']);
    giveNodesToAudioGroup();
  });
  const first = await startServer(t, ENV);
  servers.push(first);
  await waitForStatus(`${first.url}/readyz`, 200, 120_000);
  t.equal((await getJson(`${first.url}/v1/device`)).body.mode, 'device');

  // The card goes (the unbind returns once speakerd has closed its PCM),
  // then its driver is reloaded and the card comes back as card 2.
  const unloading = performance.now();
  const { returned } = unplug(LOOPBACK);
  await returned;
  await nthLogLine(first, /^audio device lost: /, 1);
  run('rmmod', ['snd_aloop']);
  run('modprobe', ['snd-aloop', 'index=2']);
  const unloaded = performance.now();
  giveNodesToAudioGroup();
  t.match(cards(), /^ 2 \[Loopback *\]/m, 'the loopback is back, as card 2');

  const { line } = await nthLogLine(first, /^audio device lost for AUDIO_LOST_RESTART_S/, 1);
  t.equal(line.msg, "audio device lost for AUDIO_LOST_RESTART_S=2 s without a reopen: /livez fails now, so that a restart gets the node's current device nodes");
  const livez = await fetch(`${first.url}/livez`);
  t.equal(livez.status, 503);
  const body = (await livez.json()) as Record<string, any>;
  t.equal(body.status, 'device_lost_for_good');
  t.equal(body.error.code, 'E_DEVICE_LOST_FOR_GOOD');
  t.match(body.error.message, /and [1-9]\d* reopen attempt\(s\) in AUDIO_LOST_RESTART_S=2 s failed$/);
  t.equal((await getJson(`${first.url}/readyz`)).status, 503);
  const livezFailed = await statusSeen(`${first.url}/livez`, 503);
  t.comment(`figures: unplugged, unloaded and reloaded as card 2 in ${ms(unloaded - unloading)}; /livez 503 seen ${ms(livezFailed - unloaded)} after the reload (AUDIO_LOST_RESTART_S=2)`);

  // What the kubelet does on that answer.
  await first.stop();
  const second = await startServer(t, ENV);
  servers.push(second);
  await waitForStatus(`${second.url}/healthz`, 200, 120_000);
  const device = await getJson(`${second.url}/v1/device`);
  t.equal(device.body.mode, 'headless', 'auto mode decided again: no card 0');
  t.match(device.body.headlessReason, /^cannot open plughw:0,0: cannot open PCM "plughw:0,0": No such file or directory \(E_ALSA_OPEN, errno 2\)$/);
  t.equal((await fetch(`${second.url}/livez`)).status, 200, 'and it is alive');
  await second.stop();
});
