// snd-dummy: a card with a real clock (the kernel's timer moves its hardware
// pointer whether or not anyone writes), so real time and real xruns.
import t from 'tap';
import { s16Pattern } from '../../pcm-fixtures';
import { getJson, logsWith, ms, nthLogLine, playWav, startServer, streamPlayed, waitForStatus } from '../lib/speakerd';

const RATE = 48_000;

t.test('snd-dummy on hw:Dummy,0,0', { timeout: 240_000 }, async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'device', AUDIO_DEVICE: 'hw:Dummy,0,0' });
  await waitForStatus(`${server.url}/readyz`, 200, 120_000);

  await t.test('plays paced in real time: a 3 s stream is answered only after the card played all but its buffer', async (t) => {
    const { bufferFrames } = (await getJson(`${server.url}/v1/device`)).body.format as { bufferFrames: number };
    // The card cannot take 3 s of audio faster than it plays it. A timer due
    // when it could have played all but one buffer must fire first: libuv
    // runs due timers before it reads sockets, so a loaded machine that runs
    // this late delays both, never the order.
    const order: string[] = [];
    const timer = setTimeout(() => order.push('card clock'), ((3 * RATE - bufferFrames) / RATE) * 1000);
    const started = performance.now();
    const answer = await playWav(server, s16Pattern(3 * RATE, 2, 41));
    order.push('answer');
    clearTimeout(timer);
    t.equal(answer.status, 200);
    t.equal(answer.body.frames, 3 * RATE);
    t.equal(answer.body.mode, 'device');
    t.same(order, ['card clock', 'answer'], `answered after ${ms(answer.at - started)}, not before the card could have played it`);
  });

  await t.test('a process stopped for 300 ms (SIGSTOP) makes the card xrun; the xrun is counted and recovered, and the stream plays to its end', async (t) => {
    const xrunsBefore = (await getJson(`${server.url}/v1/device`)).body.xruns as number;
    const logsBefore = logsWith(server, /^xrun during /).length;
    const answer = playWav(server, s16Pattern(4 * RATE, 2, 42));
    await streamPlayed(server, RATE);
    server.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGCONT');
    const played = await answer;
    t.equal(played.status, 200, 'the stream was not cut');
    t.equal(played.body.frames, 4 * RATE, 'every frame played');
    const { line } = await nthLogLine(server, /^xrun during /, logsBefore + 1);
    t.match(String(line.msg), /^xrun during \w+: recovered$/);
    const xruns = (await getJson(`${server.url}/v1/device`)).body.xruns as number;
    t.ok(xruns > xrunsBefore, `device xruns ${xrunsBefore} → ${xruns}`);
    t.equal((await getJson(`${server.url}/v1/device`)).body.state, 'ready', 'the device still plays');
    t.comment(`figures: ${xruns - xrunsBefore} xrun(s) counted for a 300 ms stop; stream answered 200 with ${played.body.underruns} underrun(s)`);
  });
});
