// Synchronized playback through the real service (design §2c): the clock
// sink's test hooks, and what the device clock reports in /v1/device.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { s16Pattern, scratchDir } from '../pcm-fixtures';
import { startServer, waitForStatus } from './server-process';

const RAW = 'audio/pcm;rate=48000;channels=2;format=s16le';

interface DeviceClock {
  locked: boolean;
  driftPpm: number | null;
  residualUs: number | null;
}

async function deviceClock(url: string): Promise<DeviceClock> {
  const device = (await (await fetch(`${url}/v1/device`)).json()) as { clock: DeviceClock };
  return device.clock;
}

t.test('headless with AUDIO_CLOCK_PPM and AUDIO_CLOCK_TIMELINE: the sink runs off by that much, /v1/device measures it, the timeline times each period', async (t) => {
  const timeline = path.join(scratchDir(t), 'sink.tl');
  const server = await startServer(t, { AUDIO_MODE: 'headless', AUDIO_CLOCK_PPM: '-400', AUDIO_CLOCK_TIMELINE: timeline, AUDIO_IDLE_MS: '0' });
  await waitForStatus(`${server.url}/readyz`, 200);
  t.same(await deviceClock(server.url), { locked: false, driftPpm: null, residualUs: null }, 'no line while the sink is stopped');

  const posted = fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(3 * 48000, 2) });
  // Read while the stream plays: from a second in, the line has a second of reports.
  let clock = await deviceClock(server.url);
  for (;;) {
    const streams = (await (await fetch(`${server.url}/v1/streams`)).json()) as { streams: { framesPlayed: number }[] };
    if (streams.streams.length === 0) break;
    clock = await deviceClock(server.url);
    if (streams.streams[0]!.framesPlayed >= 2 * 48000) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const answer = await posted;
  t.equal(answer.status, 200);
  t.match(await answer.json(), { frames: 3 * 48000 });
  t.equal(clock.locked, true, 'locked while the stream played');
  t.ok(Math.abs(clock.driftPpm! + 400) < 20, `drift measured as ${clock.driftPpm!.toFixed(2)} ppm`);

  const lines = readFileSync(timeline, 'utf8').trim().split('\n').map((line) => line.split(' ').map(BigInt) as [bigint, bigint]);
  t.equal(lines[0]![1], 0n, 'the first line is the first frame');
  const period = 1024n; // AUDIO_PERIOD_FRAMES' default
  const off = lines.filter(([ns, frames], i) => frames !== BigInt(i) * period || ns - lines[0]![0] !== (frames * 10n ** 18n) / (48000n * (1_000_000_000n - 400_000n)));
  t.same(off, [], `each of ${lines.length} lines a period on, at frames / (48000 × (1 - 400 ppm)) after the first`);
});
