// Synchronized playback through the real service (design §2c): the clock
// sink's test hooks, and what the device clock reports in /v1/device.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { s16Constant, s16Pattern, scratchDir } from '../pcm-fixtures';
import { readTimeline, playedAtNs } from '../sink-recording';
import { startInProcessApp } from './in-process-app';
import { scrape } from './prometheus-text';
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
  let metrics = await scrape(server.url);
  for (;;) {
    const streams = (await (await fetch(`${server.url}/v1/streams`)).json()) as { streams: { framesPlayed: number }[] };
    if (streams.streams.length === 0) break;
    clock = await deviceClock(server.url);
    metrics = await scrape(server.url);
    if (streams.streams[0]!.framesPlayed >= 2 * 48000) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const answer = await posted;
  t.equal(answer.status, 200);
  t.match(await answer.json(), { frames: 3 * 48000 });
  t.equal(clock.locked, true, 'locked while the stream played');
  t.ok(Math.abs(clock.driftPpm! + 400) < 20, `drift measured as ${clock.driftPpm!.toFixed(2)} ppm`);
  t.equal(metrics.value('speakerd_device_clock_locked'), 1, '/metrics: locked');
  t.ok(Math.abs(metrics.value('speakerd_device_clock_drift')! + 400) < 20, `/metrics: drift ${metrics.value('speakerd_device_clock_drift')} ppm`);
  t.equal(metrics.value('speakerd_stream_sync_error'), 0, '/metrics: no timed stream, no sync error');

  const lines = readFileSync(timeline, 'utf8').trim().split('\n').map((line) => line.split(' ').map(BigInt) as [bigint, bigint]);
  t.equal(lines[0]![1], 0n, 'the first line is the first frame');
  const period = 1024n; // AUDIO_PERIOD_FRAMES' default
  const off = lines.filter(([ns, frames], i) => frames !== BigInt(i) * period || ns - lines[0]![0] !== (frames * 10n ** 18n) / (48000n * (1_000_000_000n - 400_000n)));
  t.same(off, [], `each of ${lines.length} lines a period on, at frames / (48000 × (1 - 400 ppm)) after the first`);
});

/** A device that records what played (alsa-lib's file PCM) over a clock sink that times it. */
function recordedSinkEnv(dir: string, ppm: number, extra: Record<string, string> = {}): { env: Record<string, string>; raw: string; timeline: string } {
  const raw = path.join(dir, 'out.raw');
  const timeline = path.join(dir, 'out.tl');
  return {
    raw,
    timeline,
    env: {
      AUDIO_MODE: 'device',
      AUDIO_DEVICE: 'rec',
      AUDIO_ALSA_CONFIG: `pcm.rec { type file slave.pcm "clk" file "${raw}" format raw } pcm.clk { type speakerd_clock ppm ${ppm} timeline "${timeline}" }`,
      AUDIO_PERIOD_FRAMES: '480',
      ...extra,
    },
  };
}

t.test('?at= 300 ms ahead: 50 streams start within 1 ms of their time, by the sink timeline', async (t) => {
  const { env, raw, timeline } = recordedSinkEnv(scratchDir(t), 0, { MAX_STREAMS: '16' });
  const server = await startServer(t, env);
  await waitForStatus(`${server.url}/readyz`, 200);
  const wanted: { at: number; level: number }[] = [];
  const answers: Promise<Response>[] = [];
  for (let i = 0; i < 50; i++) {
    const at = Date.now() + 300;
    const level = 1000 + i;
    wanted.push({ at, level });
    // 30 ms of one level each, a new stream every 60 ms, each posted 300 ms ahead of its time.
    answers.push(fetch(`${server.url}/v1/streams?at=${at}`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Constant(1440, 2, level) }));
    await new Promise((resolve) => setTimeout(resolve, 60));
  }
  // While the last ones play: the worst clock lock's error, in /metrics.
  const syncError = (await scrape(server.url)).value('speakerd_stream_sync_error')!;
  t.ok(syncError >= 0 && syncError < 0.001, `/metrics: the worst timed stream's frames play ${(syncError * 1e6).toFixed(1)} µs off their time`);
  for (const answer of await Promise.all(answers)) {
    t.equal(answer.status, 200);
    t.match(await answer.json(), { frames: 1440, framesSkipped: 0 }, 'every frame played, none skipped');
  }
  server.child.kill('SIGTERM');
  await server.exited;
  const samples = new Int16Array(readFileSync(raw).buffer.slice(0));
  const errorsUs: number[] = [];
  const lines = readTimeline(timeline);
  // Each stream's step from silence, where its filtered edge (the clock
  // lock's resampler rings around a step) crosses half its level.
  const starts: number[] = [];
  let silentSince = 0;
  for (let frame = 0; frame < samples.length / 2; frame++) {
    const value = Math.abs(samples[frame * 2]!);
    if (value < 20) silentSince++;
    else if (value >= 500 && silentSince >= 48) {
      starts.push(frame);
      silentSince = 0;
    } else if (value >= 500) silentSince = 0;
  }
  t.equal(starts.length, 50, `fifty steps from silence in the recording (apart by ${starts.slice(1).map((frame, i) => Math.round((frame - starts[i]!) / 48)).join(', ')} ms)`);
  for (const [i, { at }] of wanted.entries()) errorsUs.push(Number(playedAtNs(lines, starts[i] ?? 0, 0) - BigInt(at) * 1_000_000n) / 1000);
  const sorted = errorsUs.map(Math.abs).sort((a, b) => a - b);
  const p99 = sorted[Math.ceil(0.99 * sorted.length) - 1]!;
  t.ok(p99 <= 1000, `first frames within ${p99.toFixed(1)} µs of at (p99 of 50; median ${sorted[25]!.toFixed(1)} µs)`);
  t.same(errorsUs.filter((error) => Math.abs(error) > 1000), [], 'every one within 1 ms');
});

t.test('?at= and ?late= that cannot be honoured are refused before the body is read, each saying why', async (t) => {
  const { url } = await startInProcessApp(t, { AUDIO_MODE: 'headless', MAX_AT_AHEAD_S: '10' });
  const now = Date.now();
  const cases: [query: string, status: number, code: string, message: RegExp][] = [
    ['at=tomorrow', 400, 'E_INVALID_PARAMETER', /^at must be an RFC 3339 time such as .*, or Unix milliseconds; got "tomorrow"$/],
    ['at=2026-02-30T10:00:00Z', 400, 'E_INVALID_PARAMETER', /got "2026-02-30T10:00:00Z"$/],
    ['at=2026-12-03T10:00:00', 400, 'E_INVALID_PARAMETER', /got "2026-12-03T10:00:00"$/],
    ['at=-5', 400, 'E_INVALID_PARAMETER', /got "-5"$/],
    ['at=0', 400, 'E_INVALID_PARAMETER', /got "0"$/],
    [`at=${now + 20_000}`, 400, 'E_INVALID_PARAMETER', new RegExp(`^at ${now + 20_000} is (19|20)\\.\\d s ahead, more than MAX_AT_AHEAD_S=10$`)],
    [`at=${now + 1000}&late=later`, 400, 'E_INVALID_PARAMETER', /^late must be one of skip, play, reject; got "later"$/],
    ['late=skip', 400, 'E_INVALID_PARAMETER', /^late applies only to a stream with at$/],
    [`at=${now + 1000}&queue=news`, 400, 'E_INVALID_PARAMETER', /^a stream cannot both start at a time \(at\) and wait in a queue \(queue=news\)$/],
    [`at=${now - 2000}&late=reject`, 409, 'E_TOO_LATE', new RegExp(`^at ${now - 2000} passed \\d+ ms before the stream arrived, and late=reject$`)],
  ];
  for (const [query, status, code, message] of cases) {
    const answer = await fetch(`${url}/v1/streams?${query}`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Constant(480, 2, 1) });
    const { error } = (await answer.json()) as { error: { code: string; message: string; hint: string } };
    t.equal(answer.status, status, `${query}: ${status}`);
    t.equal(error.code, code, `${query}: ${code}`);
    t.match(error.message, message, `${query}: says why`);
    t.ok(error.hint.length > 0, `${query}: with a hint`);
  }
  const listed = (await (await fetch(`${url}/v1/streams`)).json()) as { streams: unknown[] };
  t.same(listed.streams, [], 'no stream left behind');
});

t.test('?at= on a device under AUDIO_UNDERRUN=wait: 409 E_TIMING_UNSUPPORTED', async (t) => {
  const { url } = await startInProcessApp(t, { AUDIO_MODE: 'headless', AUDIO_UNDERRUN: 'wait' });
  const answer = await fetch(`${url}/v1/streams?at=${Date.now() + 1000}`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Constant(480, 2, 1) });
  t.equal(answer.status, 409);
  t.same(await answer.json(), {
    error: {
      code: 'E_TIMING_UNSUPPORTED',
      message: 'this device plays under AUDIO_UNDERRUN=wait, which never inserts the silence a timed start waits in',
      hint: 'use AUDIO_UNDERRUN=silence (the default for sound cards) to play streams at a time',
    },
  });
});

t.test('a scheduled stream is listed as such with its time, then plays; an RFC 3339 at with a fraction and an offset is the same instant', async (t) => {
  const { url } = await startInProcessApp(t, { AUDIO_MODE: 'headless' });
  const atMs = Date.now() + 800.25;
  // The same instant in +01:00, to the microsecond.
  const local = new Date(Math.floor(atMs) + 3_600_000).toISOString().slice(0, 19);
  const at = `${local}.${String(Math.floor(atMs) % 1000).padStart(3, '0')}250+01:00`;
  const answer = fetch(`${url}/v1/streams?at=${encodeURIComponent(at)}&name=chime`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Constant(4800, 2, 7) });
  let listing: { state: string; timing: { atMs: number; late: string; startAtMs: number | null; framesSkipped: number; syncErrorUs: number | null } | null } | undefined;
  while (!listing) listing = ((await (await fetch(`${url}/v1/streams`)).json()) as { streams: (typeof listing)[] }).streams[0];
  t.equal(listing.state, 'scheduled', 'scheduled before its time');
  t.equal(listing.timing?.atMs, atMs, 'at parsed to the microsecond');
  t.equal(listing.timing?.late, 'skip');
  // Once it plays, its clock lock's error is in its listing.
  let timing = listing.timing!;
  while (timing.syncErrorUs === null) timing = ((await (await fetch(`${url}/v1/streams`)).json()) as { streams: (typeof listing)[] }).streams[0]!.timing!;
  t.ok(Math.abs(timing.syncErrorUs) < 1000, `listed: its frames play ${timing.syncErrorUs.toFixed(1)} µs off their time`);
  t.ok(timing.startAtMs !== null && Math.abs(timing.startAtMs - atMs) < 1, 'placed on at');
  t.equal((await answer).status, 200, 'then played');
});
