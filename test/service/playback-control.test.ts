// Playback control over HTTP (design §2b), through the real service and
// alsa-lib's file PCM under the wait policy, so that the recording is
// exactly what was mixed: priorities, queues, PATCH, DELETE's fade, the
// master volume and the event stream.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { noise, roundHalfToEven, s16Channel, s16Stereo, scratchDir } from '../pcm-fixtures';
import { postStreaming } from './http-client';
import { scrape } from './prometheus-text';
import { fileDeviceEnv, startServer, waitForStatus, type ServerProcess } from './server-process';

const RAW = 'audio/pcm;rate=48000;channels=2;format=s16le';
const FADE = 960; // AUDIO_FADE_MS = 20 at 48 kHz
const DUCK_RAMP = 2400; // AUDIO_DUCK_RAMP_MS = 50
const LEVEL = 16000;
const zero = () => 0;
const level = () => LEVEL;

interface Listing {
  id: string;
  name: string | null;
  state: string;
  priority: string;
  queue: string | null;
  gainDb: number;
  framesPlayed: number;
  started: string | null;
}

async function service(t: Tap.Test, extra: Record<string, string> = {}) {
  const out = path.join(scratchDir(t), 'out.raw');
  const server = await startServer(t, fileDeviceEnv(out, { AUDIO_PERIOD_FRAMES: '256', ...extra }));
  await waitForStatus(`${server.url}/readyz`, 200);
  return {
    server,
    /** Stops the service (the file PCM writes its last frames at close) and returns the channels recorded. */
    async recorded(): Promise<[Int16Array, Int16Array, Buffer]> {
      server.child.kill('SIGTERM');
      await server.exited;
      const written = readFileSync(out);
      return [s16Channel(written, 2, 0), s16Channel(written, 2, 1), written];
    },
  };
}

async function streams(server: ServerProcess): Promise<Listing[]> {
  return ((await (await fetch(`${server.url}/v1/streams`)).json()) as { streams: Listing[] }).streams;
}

/** Waits (by polling the listing, not by time) until `predicate` holds. */
async function until(server: ServerProcess, predicate: (listed: Listing[]) => boolean): Promise<Listing[]> {
  for (;;) {
    const listed = await streams(server);
    if (predicate(listed)) return listed;
    await sleep(5);
  }
}

/**
 * A stream of zeros ("hold") and a stream "music", both attached before
 * either has a frame: the wait policy then mixes the music only as far as
 * the hold's `frames` zeros go, until the hold's body ends. So the music has
 * frames in its ring at that point, which a fade needs.
 */
async function heldPair(server: ServerProcess, frames: number, music: Buffer) {
  // One frame, less than a period: the hold is buffering, and the wait
  // policy mixes nothing until it has a period. (fetch sends a request
  // only once its body has a first chunk.)
  const hold = postStreaming(`${server.url}/v1/streams?name=hold`, RAW);
  hold.writer.write(s16Stereo(1, zero, zero));
  await until(server, (all) => all.length === 1);
  const playing = postStreaming(`${server.url}/v1/streams?name=music`, RAW);
  playing.writer.write(music);
  await until(server, (all) => all.length === 2);
  hold.writer.write(s16Stereo(frames - 1, zero, zero));
  return [hold, playing] as const;
}

function post(server: ServerProcess, query: string, body: Buffer) {
  return fetch(`${server.url}/v1/streams?${query}`, { method: 'POST', headers: { 'content-type': RAW }, body });
}

function ramp(value: (k: number) => number, a: number, b: number, n: number): number[] {
  const [from, to] = [Math.fround(a), Math.fround(b)];
  return Array.from({ length: n }, (_, i) => roundHalfToEven(Math.fround(value(i) * Math.fround(from + ((to - from) * (i + 1)) / n))));
}

function slice(samples: Int16Array, from: number, to = samples.length): number[] {
  return Array.from(samples.subarray(from, to));
}

/** Reads a Server-Sent Events response into parsed events as they come. */
function readEvents(response: Response) {
  const events: { id?: string; event: string; data: Record<string, unknown> }[] = [];
  const decoder = new TextDecoder();
  let text = '';
  const reader = response.body!.getReader();
  const done = (async () => {
    for (;;) {
      const { value, done: ended } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (ended) return;
      text += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const fields = Object.fromEntries(block.split('\n').filter((line) => !line.startsWith(':') && line.includes(': ')).map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]));
        if (fields.event) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data ?? '{}') });
      }
    }
  })();
  return {
    events,
    async waitFor(predicate: (event: { event: string; data: Record<string, unknown> }) => boolean) {
      while (!events.some(predicate)) await sleep(5);
    },
    close: () => reader.cancel().then(() => done),
  };
}

t.test('an announcement over music: ducked by exactly AUDIO_DUCK_DB for its length, 50 ms ramps, listed as ducked', async (t) => {
  const { server, recorded } = await service(t);
  const music = postStreaming(`${server.url}/v1/streams?name=music&priority=background`, RAW);
  music.writer.write(s16Stereo(30_000, level, zero));
  const [listed] = await until(server, (all) => all[0]?.framesPlayed === 30_000);
  t.match(listed, { name: 'music', priority: 'background', state: 'playing', queue: null, gainDb: 0 });
  const announcement = post(server, 'name=doorbell&priority=announcement', s16Stereo(24_000, zero, level));
  const during = await until(server, (all) => all.find((s) => s.name === 'music')?.state === 'ducked');
  t.match(during.find((s) => s.name === 'doorbell'), { priority: 'announcement', state: 'playing' });
  music.writer.write(s16Stereo(66_000, level, zero));
  music.writer.end();
  const [musicAnswer, announcementAnswer] = await Promise.all([(await music.response).json(), (await announcement).json()]);
  t.match(musicAnswer, { frames: 96_000 });
  t.match(announcementAnswer, { frames: 24_000 });
  const metrics = await scrape(server.url);
  const duckedS = metrics.value('speakerd_stream_ducked_time_total', { speakerd_stream_priority: 'background' });
  t.ok(duckedS !== undefined && duckedS > 0, `the music's ducked time in /metrics, by class (${duckedS} s)`);
  t.equal(metrics.value('speakerd_streams_finished_total', { speakerd_stream_outcome: 'ok', speakerd_stream_priority: 'announcement' }), 1, 'finished, by class');
  const [left, right] = await recorded();
  const ducked = Math.round(LEVEL * 0.1);
  t.equal(left.length, 96_000, 'as long as the music');
  t.same(slice(right, 30_000, 54_000), new Array(24_000).fill(LEVEL), 'the announcement unaltered');
  t.same(slice(left, 30_000, 30_000 + DUCK_RAMP), ramp(level, 1, 0.1, DUCK_RAMP), 'a 50 ms ramp down from its first frame');
  t.same(slice(left, 30_000 + DUCK_RAMP, 54_000), new Array(54_000 - 30_000 - DUCK_RAMP).fill(ducked), `${(20 * Math.log10(ducked / LEVEL)).toFixed(3)} dB under it`);
  t.same(slice(left, 54_000, 54_000 + DUCK_RAMP), ramp(level, 0.1, 1, DUCK_RAMP), 'a 50 ms ramp up after its last');
  t.ok(Math.max(...left.map(Math.abs)) <= LEVEL, 'nothing louder than the music alone');
});

t.test('an alarm pauses the music, which resumes bit-exact where it paused', async (t) => {
  const { server, recorded } = await service(t);
  const signal = noise(5);
  const [hold, music] = await heldPair(server, 30_000, s16Stereo(60_000, signal, zero));
  await until(server, (all) => all.find((s) => s.name === 'music')?.framesPlayed === 30_000);
  // The alarm pauses the hold too (dry, at once: a paused stream holds
  // nothing back), so it plays at once over the music's fade; after it the
  // hold, resumed and dry, holds the mix again until its body ends.
  const alarm = await post(server, 'name=fire&priority=alarm', s16Stereo(24_000, zero, level));
  t.match(await alarm.json(), { frames: 24_000 });
  hold.writer.end();
  music.writer.write(s16Stereo(36_000, (i) => signal(60_000 + i), zero));
  music.writer.end();
  const [musicAnswer] = await Promise.all([(await music.response).json(), (await hold.response).json()]);
  t.match(musicAnswer, { frames: 96_000 });
  const [left, right] = await recorded();
  const paused = 30_000 + FADE;
  t.equal(left.length, 96_000 + 54_000 - paused);
  t.same(slice(right, 30_000, 54_000), new Array(24_000).fill(LEVEL), 'the alarm');
  t.same(slice(left, 30_000, paused), ramp((i) => signal(30_000 + i), 1, 0, FADE), 'the music fades out over AUDIO_FADE_MS');
  t.equal(Math.max(...left.subarray(paused, 54_000).map(Math.abs)), 0, 'absent under the alarm');
  t.same(slice(left, 54_000, 54_000 + FADE), ramp((i) => signal(paused + i), 0, 1, FADE), 'fades in from where it paused');
  t.same(slice(left, 54_000 + FADE), Array.from({ length: 96_000 - paused - FADE }, (_, i) => signal(paused + FADE + i)), 'then bit-exact');
});

t.test('a queue of 5 POSTs plays back to back; waiting ones are listed as queued; MAX_QUEUED bounds them', async (t) => {
  const { server, recorded } = await service(t, { MAX_QUEUED: '4' });
  const lengths = [4800, 9600, 300, 12_000, 2000];
  const sources = lengths.map((frames, n) => s16Stereo(frames, noise(300 + n), noise(400 + n)));
  // The first holds its queue: its body is still arriving.
  const first = postStreaming(`${server.url}/v1/streams?queue=tts&name=s0`, RAW);
  first.writer.write(sources[0]!.subarray(0, 4000));
  await until(server, (all) => all.length === 1);
  const rest: Promise<Response>[] = [];
  for (let n = 1; n < 5; n++) {
    rest.push(post(server, `queue=tts&name=s${n}`, sources[n]!));
    await until(server, (all) => all.length === n + 1); // in arrival order
  }
  const listed = await streams(server);
  t.same(listed.map((s) => [s.name, s.state, s.queue, s.started === null]), [
    ['s0', 'playing', 'tts', false], ['s1', 'queued', 'tts', true], ['s2', 'queued', 'tts', true], ['s3', 'queued', 'tts', true], ['s4', 'queued', 'tts', true],
  ]);
  const refused = await post(server, 'queue=tts&name=s5', sources[4]!);
  t.equal(refused.status, 429);
  t.equal(refused.headers.get('retry-after'), '1');
  t.same(await refused.json(), { error: { code: 'E_TOO_MANY_QUEUED', message: '4 streams already wait in queues, the most this instance holds (MAX_QUEUED=4)', hint: 'retry after the number of seconds in Retry-After, or raise MAX_QUEUED' } });
  const other = await post(server, 'queue=other&name=x', s16Stereo(0, zero, zero));
  t.equal(other.status, 200, 'another queue is not held up');
  first.writer.write(sources[0]!.subarray(4000));
  first.writer.end();
  const answers = await Promise.all([first.response, ...rest].map(async (response) => (await response).json() as Promise<{ frames: number }>));
  t.same(answers.map((answer) => answer.frames), lengths);
  const metrics = await scrape(server.url);
  t.equal(metrics.value('speakerd_stream_queue_duration_count', { speakerd_stream_priority: 'normal' }), 6, 'every queued stream\'s wait in /metrics (the 5 of tts and the other one)');
  const [, , written] = await recorded();
  t.ok(written.equals(Buffer.concat(sources)), 'the recording is the five bodies back to back: no gap, no overlap');
});

t.test('PATCH changes a playing stream\'s gain (a 20 ms ramp) and pauses it; errors in the documented shape', async (t) => {
  const { server, recorded } = await service(t);
  const music = postStreaming(`${server.url}/v1/streams?name=music&gain=-6.0206`, RAW);
  music.writer.write(s16Stereo(30_000, level, zero));
  const [listed] = await until(server, (all) => all[0]?.framesPlayed === 30_000);
  const patch = (id: string, body: string, type = 'application/json') => fetch(`${server.url}/v1/streams/${id}`, { method: 'PATCH', headers: { 'content-type': type }, body });
  const changed = await patch(listed!.id, '{"gainDb": 0}');
  t.equal(changed.status, 200);
  t.match(await changed.json(), { id: listed!.id, gainDb: 0, state: 'playing' });
  music.writer.write(s16Stereo(30_000, level, zero));
  await until(server, (all) => all[0]?.framesPlayed === 60_000);

  const failures: [string, string, number, string, string][] = [
    [listed!.id, '{}', 400, 'E_INVALID_PARAMETER', 'the body asks for no change: send gainDb, paused or both'],
    [listed!.id, '{"gainDb": 30}', 400, 'E_INVALID_PARAMETER', 'gainDb must be a number of dB from -120 to 24; got 30'],
    [listed!.id, '{"gainDb": "-6"}', 400, 'E_INVALID_PARAMETER', 'gainDb must be a number of dB from -120 to 24; got "-6"'],
    [listed!.id, '{"paused": 1}', 400, 'E_INVALID_PARAMETER', 'paused must be true or false; got 1'],
    [listed!.id, '{"volume": 1}', 400, 'E_INVALID_PARAMETER', 'unknown field "volume": a stream takes gainDb and paused'],
    [listed!.id, '[1]', 400, 'E_INVALID_PARAMETER', 'the body must be a JSON object'],
    ['no-such-stream', '{"paused": true}', 404, 'E_STREAM_NOT_FOUND', 'no stream no-such-stream is playing or queued'],
  ];
  for (const [id, body, status, code, message] of failures) {
    const response = await patch(id, body);
    const answer = (await response.json()) as { error: { code: string; message: string; hint: string } };
    t.equal(response.status, status, body);
    t.match(answer, { error: { code, message, hint: String } }, body);
  }
  const broken = await patch(listed!.id, '{"gainDb":');
  t.equal(broken.status, 400);
  t.match(await broken.json(), { error: { code: String, message: String, hint: String } }, 'malformed JSON, in the documented shape');
  const notJson = await patch(listed!.id, 'gainDb=1', 'application/x-www-form-urlencoded');
  t.equal(notJson.status, 415);
  t.match(await notJson.json(), { error: { code: String, message: String, hint: String } }, 'a body that is not JSON, in the documented shape');

  music.writer.end();
  t.match(await (await music.response).json(), { frames: 60_000 });
  const [left] = await recorded();
  const half = Math.fround(10 ** (-6.0206 / 20));
  t.equal(left[0], roundHalfToEven(Math.fround(LEVEL * half)), 'the POST\'s gain from the first frame');
  t.same(slice(left, 30_000, 30_000 + FADE), ramp(level, half, 1, FADE), 'a 20 ms ramp to the new gain');
  t.same(slice(left, 30_000 + FADE), new Array(30_000 - FADE).fill(LEVEL));
});

t.test('DELETE fades the stream out over AUDIO_FADE_MS; its POST answers 409', async (t) => {
  const { server, recorded } = await service(t);
  const signal = noise(9);
  const [hold, music] = await heldPair(server, 30_000, s16Stereo(50_000, signal, zero));
  const listed = await until(server, (all) => all.find((s) => s.name === 'music')?.framesPlayed === 30_000);
  const deleted = await fetch(`${server.url}/v1/streams/${listed.find((s) => s.name === 'music')!.id}`, { method: 'DELETE' });
  t.equal(deleted.status, 200);
  hold.writer.end();
  const answer = await music.response;
  t.equal(answer.status, 409);
  t.match(await answer.json(), { error: { code: 'E_STREAM_STOPPED', message: /30960 frames \(0\.645 s\) played/ } });
  await (await hold.response).json();
  const [left] = await recorded();
  t.same(slice(left, 30_000, 30_000 + FADE), ramp((i) => signal(30_000 + i), 1, 0, FADE), 'faded to silence, not cut');
  t.equal(left.length, 30_000 + FADE, 'and nothing after');
});

t.test('the master volume: software on a file PCM, ramped, muted; bad bodies answered in the documented shape', async (t) => {
  const { server, recorded } = await service(t, { AUDIO_VOLUME_DB: '-6.0206' });
  const initial = await (await fetch(`${server.url}/v1/volume`)).json();
  t.same(initial, { db: -6.0206, muted: false, control: 'software', element: null, card: null, minDb: -120, maxDb: 0, reason: null });
  const music = postStreaming(`${server.url}/v1/streams?name=music`, RAW);
  music.writer.write(s16Stereo(20_000, level, zero));
  await until(server, (all) => all[0]?.framesPlayed === 20_000);
  const put = (body: string) => fetch(`${server.url}/v1/volume`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
  const muted = await put('{"muted": true}');
  t.equal(muted.status, 200);
  t.match(await muted.json(), { db: -6.0206, muted: true, control: 'software' });
  for (const [body, message] of [
    ['{"db": 3}', 'db must be a number from -120 to 0 (the software mixer); got 3'],
    ['{"db": null}', 'db must be a number from -120 to 0 (the software mixer); got null'],
    ['{"loud": true}', 'unknown field "loud": the volume takes db and muted'],
    ['{}', 'the body asks for no change: send db, muted or both'],
  ] as const) {
    const response = await put(body);
    t.equal(response.status, 400, body);
    t.match(await response.json(), { error: { code: 'E_INVALID_PARAMETER', message, hint: String } }, body);
  }
  music.writer.write(s16Stereo(20_000, level, zero));
  music.writer.end();
  await (await music.response).json();
  const [left] = await recorded();
  const gain = Math.fround(10 ** (-6.0206 / 20));
  t.same(slice(left, 0, 20_000), new Array(20_000).fill(roundHalfToEven(Math.fround(LEVEL * gain))), 'AUDIO_VOLUME_DB from the first frame');
  t.same(slice(left, 20_000, 20_000 + FADE), ramp(level, gain, 0, FADE), 'the mute is a 20 ms ramp to silence');
  t.equal(Math.max(...left.subarray(20_000 + FADE).map(Math.abs)), 0, 'and silent after');
});

t.test('GET /v1/events: stream and volume events with ids, replayed after Last-Event-ID, a gap when they are gone', async (t) => {
  const { server } = await service(t);
  const live = readEvents(await fetch(`${server.url}/v1/events`));
  t.teardown(() => live.close());
  const answer = (await (await post(server, 'name=chime&priority=announcement', s16Stereo(4800, level, level))).json()) as { id: string };
  await live.waitFor((event) => event.event === 'ended' && event.data.id === answer.id);
  await fetch(`${server.url}/v1/volume`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"db": -3}' });
  await live.waitFor((event) => event.event === 'volume');
  const mine = live.events.filter((event) => event.data.id === answer.id || event.event === 'volume');
  t.same(mine.map((event) => event.event), ['admitted', 'started', 'ended', 'volume']);
  t.match(mine[0]!.data, { name: 'chime', priority: 'announcement', queue: null, gainDb: 0 });
  t.match(mine[2]!.data, { outcome: 'ok', frames: 4800 });
  t.match(mine[3]!.data, { db: -3, muted: false, control: 'software' });
  const ids = live.events.map((event) => event.id!);
  t.ok(ids.every((id) => /^[0-9a-z]+-\d+$/.test(id)), 'every event has an id');

  const replay = readEvents(await fetch(`${server.url}/v1/events`, { headers: { 'last-event-id': mine[0]!.id! } }));
  await replay.waitFor((event) => event.event === 'volume');
  await replay.close();
  t.same(replay.events.map((event) => event.id), ids.slice(ids.indexOf(mine[0]!.id!) + 1), 'the events after Last-Event-ID, exactly');

  const stale = readEvents(await fetch(`${server.url}/v1/events`, { headers: { 'last-event-id': 'zz-1' } }));
  await stale.waitFor((event) => event.event === 'volume');
  await stale.close();
  t.equal(stale.events[0]!.event, 'gap', 'an id from another process: a gap first');
  t.match(stale.events[1], { event: 'device', data: { state: 'ready', mode: 'device', pcm: 'out' } }, 'then everything held: the device opening, before the live client came');
  t.same(stale.events.slice(2).map((event) => event.id), ids, 'and what the live client saw');
});

t.test('with AUTH_TOKEN, the control routes and the event stream need the token', async (t) => {
  const { server } = await service(t, { AUTH_TOKEN: 'secret-token' });
  for (const [method, url, body] of [['GET', '/v1/events', undefined], ['GET', '/v1/volume', undefined], ['PUT', '/v1/volume', '{"db":-1}'], ['PATCH', '/v1/streams/x', '{"paused":true}']] as const) {
    const response = await fetch(`${server.url}${url}`, { method, ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}) });
    t.equal(response.status, 401, `${method} ${url}`);
    t.match(await response.json(), { error: { code: 'E_UNAUTHORIZED', message: String, hint: String } });
  }
  const volume = await fetch(`${server.url}/v1/volume`, { headers: { authorization: 'Bearer secret-token' } });
  t.equal(volume.status, 200);
});

t.test('a queued stream: PATCH is 409, DELETE takes it out of its queue (its POST answers 409), and SIGTERM lets the rest play in turn', async (t) => {
  const { server } = await service(t);
  const first = postStreaming(`${server.url}/v1/streams?queue=q&name=first`, RAW);
  first.writer.write(s16Stereo(2000, level, zero));
  await until(server, (all) => all.length === 1);
  const second = post(server, 'queue=q&name=second', s16Stereo(2000, level, zero));
  const third = post(server, 'queue=q&name=third', s16Stereo(3000, level, zero));
  const listed = await until(server, (all) => all.length === 3);
  const [secondId, thirdId] = [listed.find((s) => s.name === 'second')!.id, listed.find((s) => s.name === 'third')!.id];

  const patched = await fetch(`${server.url}/v1/streams/${thirdId}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"paused": true}' });
  t.equal(patched.status, 409);
  t.same(await patched.json(), { error: { code: 'E_STREAM_QUEUED', message: `stream ${thirdId} is still waiting in its queue: only a stream that plays can be paused or have its gain changed`, hint: 'wait for its "admitted" event on GET /v1/events, or DELETE it to take it out of the queue' } });

  t.equal((await fetch(`${server.url}/v1/streams/${secondId}`, { method: 'DELETE' })).status, 200);
  const secondAnswer = await second;
  t.equal(secondAnswer.status, 409);
  t.same(await secondAnswer.json(), { error: { code: 'E_STREAM_STOPPED', message: `the stream was stopped by DELETE /v1/streams/${secondId}; nothing played`, hint: 'nothing to do: someone stopped it on purpose' } });
  t.same((await streams(server)).map((s) => [s.name, s.state]), [['first', 'playing'], ['third', 'queued']], 'out of the listing, the others in place');

  server.child.kill('SIGTERM');
  first.writer.write(s16Stereo(2000, level, zero));
  first.writer.end();
  t.match(await (await first.response).json(), { frames: 4000 });
  t.match(await (await third).json(), { frames: 3000 }, 'admitted before the SIGTERM: played in its turn within the grace period');
  t.same(await server.exited, [0, null]);
});
