// A running card with nothing new to play sleeps until it needs a period.
// A real driver's descriptor is ready whenever a period of the buffer is
// free, which it is all along while speakerd feeds silence (the idle time,
// a timed stream's wait) or lets a queue drain: a thread that polls the
// descriptor there wakes at once, again and again. It did: 40000 wakes a
// second on snd-aloop, a core's worth of CPU. The clock sink's descriptor is
// a timer that fires once a period, so only a real driver shows it.
//
// The playback thread's CPU time (in the kernel's 10 ms ticks) over each
// phase against the same thread's while it plays: a spinning thread uses
// a tick for every 10 ms of the phase.
import t, { type Test } from 'tap';
import { s16Pattern } from '../../pcm-fixtures';
import { cpuTicks, threads } from '../lib/sound-card';
import { getJson, playWav, startServer, waitForStatus, type ServerProcess } from '../lib/speakerd';

const RATE = 48_000;
const RAW = `audio/pcm;rate=${RATE};channels=2;format=s16le`;

async function loopbackServer(t: Test, env: Record<string, string>): Promise<{ server: ServerProcess; playThreadTicks: () => number }> {
  const server = await startServer(t, { AUDIO_MODE: 'device', AUDIO_DEVICE: 'hw:Loopback,0,0', AUDIO_PERIODS: '8', ...env });
  await waitForStatus(`${server.url}/readyz`, 200, 120_000);
  t.teardown(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  const pid = server.child.pid!;
  const playThread = () => threads(pid).find((thread) => thread.name === 'speakerd-play')?.tid;
  return { server, playThreadTicks: () => cpuTicks(pid, playThread()) };
}

/** The ticks `ticks` gains while `phase` runs, and how long it ran, ms. */
async function ticksDuring(ticks: () => number, phase: () => Promise<unknown>): Promise<{ used: number; ms: number }> {
  const before = ticks();
  const started = performance.now();
  await phase();
  return { used: ticks() - before, ms: performance.now() - started };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// A spinning thread would use a tick per 10 ms; a sleeping one a few over the whole phase.
const mostTicks = (ms: number) => Math.ceil(ms / 10 / 5);

t.test('a running card with nothing new to play: the playback thread sleeps', { timeout: 240_000 }, async (t) => {
  await t.test('silence policy: fed silence for AUDIO_IDLE_MS after a stream', async (t) => {
    const { server, playThreadTicks } = await loopbackServer(t, { AUDIO_IDLE_MS: '60000' });
    t.equal((await playWav(server, s16Pattern(RATE / 5, 2, 61))).status, 200);
    const idle = await ticksDuring(playThreadTicks, () => sleep(3000));
    t.equal((await getJson(`${server.url}/v1/device`)).body.running, true, 'the card still ran, fed silence');
    t.ok(idle.used <= mostTicks(idle.ms), `${idle.used} ticks of CPU in ${idle.ms.toFixed(0)} ms of silence (spinning: ${Math.round(idle.ms / 10)})`);
  });

  await t.test('a timed stream waiting for its time', async (t) => {
    const { server, playThreadTicks } = await loopbackServer(t, {});
    const at = Date.now() + 6000;
    let answered = false;
    const answer = fetch(`${server.url}/v1/streams?at=${at}`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(RATE / 5, 2, 62) }).then((response) => {
      answered = true;
      return response;
    });
    // Until the stream is placed on the card's clock, then 3 s of its wait.
    while (!(await getJson(`${server.url}/v1/streams`)).body.streams?.some((stream: { state: string }) => stream.state === 'scheduled')) await sleep(50);
    const waiting = await ticksDuring(playThreadTicks, () => sleep(3000));
    t.equal(answered, false, 'the stream had not played yet');
    t.ok(waiting.used <= mostTicks(waiting.ms), `${waiting.used} ticks of CPU in ${waiting.ms.toFixed(0)} ms of waiting (spinning: ${Math.round(waiting.ms / 10)})`);
    t.equal((await answer).status, 200, 'and it played');
  });

  await t.test('wait policy: a 2 s buffer drains after the last stream', async (t) => {
    const { server, playThreadTicks } = await loopbackServer(t, { AUDIO_UNDERRUN: 'wait', AUDIO_PERIOD_FRAMES: '4800', AUDIO_PERIODS: '20' });
    // The answer comes once the stream's last frame has played: the whole drain is inside.
    const played = await ticksDuring(playThreadTicks, async () => t.equal((await playWav(server, s16Pattern(3 * RATE, 2, 63))).status, 200));
    t.ok(played.used <= mostTicks(played.ms), `${played.used} ticks of CPU in the ${played.ms.toFixed(0)} ms of a 3 s stream and its 2 s drain (a thread spinning through the drain uses about 200 more)`);
  });
});
