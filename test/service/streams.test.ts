import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { roundHalfToEven, s16Constant, s16Pattern, scratchDir } from '../pcm-fixtures';
import { listStreams, openFds, postStreaming, waitForStreams } from './http-client';
import { fileDeviceEnv, startServer, untilLogged, waitForStatus } from './server-process';
import { wav, wavHeader } from './wav-fixtures';

const S16_STEREO_48K = { formatTag: 1, channels: 2, rate: 48000, bitsPerSample: 16 } as const;
const RAW_S16 = 'audio/pcm;rate=48000;channels=2;format=s16le';

async function fileServer(t: Parameters<typeof startServer>[0], extra: Record<string, string> = {}) {
  const out = path.join(scratchDir(t as never), 'out.raw');
  const server = await startServer(t, fileDeviceEnv(out, extra));
  await waitForStatus(`${server.url}/healthz`, 200);
  return { server, out, base: server.url };
}

t.test('a WAV POSTed plays bit-exact and the reply comes with the counts', async (t) => {
  const { base, out } = await fileServer(t);
  const samples = s16Pattern(24_000, 2);
  const response = await fetch(`${base}/v1/streams?name=chime`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: wav(S16_STEREO_48K, samples) });
  t.equal(response.status, 200);
  const result = (await response.json()) as Record<string, unknown>;
  t.match(result, { frames: 24_000, seconds: 0.5, underruns: 0, truncated: false, mode: 'device' });
  t.match(result.id, /^[0-9a-f-]{36}$/);
  t.ok(readFileSync(out).equals(samples), 'the file PCM got exactly the samples');
  t.same(await listStreams(base), [], 'the stream list is empty again');
});

t.test('log lines of a stream carry the request id and the stream id, and none is written per chunk', async (t) => {
  const { server, base } = await fileServer(t);
  const response = await fetch(`${base}/v1/streams?name=logged`, { method: 'POST', headers: { 'content-type': RAW_S16 }, body: s16Pattern(48_000, 2) });
  const { id } = (await response.json()) as { id: string };
  await untilLogged(server, (line) => line.streamId === id && line.msg === 'stream played');
  const streamLines = server.logs.filter((line) => line.streamId === id);
  t.same(streamLines.map((line) => line.msg), ['stream admitted', 'stream played']);
  t.ok(streamLines.every((line) => typeof line.reqId === 'string' && line.reqId === streamLines[0]!.reqId), 'each carries the request id');
  t.equal(streamLines[0]!.streamName, 'logged');
  t.ok(server.logs.filter((line) => line.reqId === streamLines[0]!.reqId).length <= 4, 'a handful of lines for a 192 KB body');
});

t.test('curl --data-binary plays a WAV file', async (t) => {
  const { base, out } = await fileServer(t);
  const file = path.join(scratchDir(t), 'in.wav');
  const samples = s16Pattern(4800, 2, 3);
  writeFileSync(file, wav(S16_STEREO_48K, samples));
  const { stdout } = await promisify(execFile)('curl', ['-sS', '--fail-with-body', '-H', 'content-type: audio/wav', '--data-binary', `@${file}`, `${base}/v1/streams`]);
  t.match(JSON.parse(stdout), { frames: 4800, truncated: false });
  t.ok(readFileSync(out).equals(samples));
});

t.test('a chunked upload of unknown length (streaming WAV header) plays completely', async (t) => {
  const { base, out } = await fileServer(t);
  const samples = s16Pattern(48_000, 2, 9);
  const { writer, response } = postStreaming(`${base}/v1/streams`, 'audio/wav');
  writer.write(wavHeader({ ...S16_STEREO_48K, dataSizeField: 0xffffffff }, 0));
  // Odd-sized pieces, so frames straddle chunks.
  for (let offset = 0; offset < samples.length; offset += 7777) {
    writer.write(samples.subarray(offset, offset + 7777));
    await new Promise((resolve) => setImmediate(resolve));
  }
  writer.end();
  const reply = await response;
  t.equal(reply.status, 200);
  t.match(await reply.json(), { frames: 48_000, truncated: false });
  t.ok(readFileSync(out).equals(samples));
});

t.test('audio past a declared data chunk is not waited for: the reply comes while the client still sends', async (t) => {
  const { base, out } = await fileServer(t);
  const samples = s16Pattern(4800, 2, 4);
  const { writer, response } = postStreaming(`${base}/v1/streams`, 'audio/wav');
  writer.write(wav(S16_STEREO_48K, samples));
  writer.write(Buffer.from('LIST')); // trailing chunks, and then the client never ends
  const reply = await response;
  t.equal(reply.status, 200);
  t.match(await reply.json(), { frames: 4800, truncated: false });
  t.equal(reply.headers.get('connection'), 'close', 'the unread rest of the body closes the connection');
  t.ok(readFileSync(out).equals(samples));
  writer.fail();
});

t.test('two concurrent streams come out as the exact sum', async (t) => {
  const { base, out } = await fileServer(t);
  const first = postStreaming(`${base}/v1/streams?name=a`, RAW_S16);
  const second = postStreaming(`${base}/v1/streams?name=b&gain=-6.020599913279624`, RAW_S16);
  const a = s16Pattern(20_000, 2, 1);
  const b = s16Pattern(20_000, 2, 2);
  // One frame each gets both requests admitted and attached; a stream still
  // buffering its first period holds the wait policy's mix, so the two start
  // together, frame for frame.
  first.writer.write(a.subarray(0, 4));
  second.writer.write(b.subarray(0, 4));
  const listed = await waitForStreams(base, 2);
  t.same(listed.map((s) => s.name).sort(), ['a', 'b']);
  first.writer.write(a.subarray(4));
  second.writer.write(b.subarray(4));
  first.writer.end();
  second.writer.end();
  const [ra, rb] = await Promise.all([first.response, second.response]);
  t.equal(ra.status, 200);
  t.equal(rb.status, 200);
  const written = readFileSync(out);
  t.equal(written.length, a.length);
  // -6.0206 dB is a gain of exactly 0.5 in float.
  let mismatches = 0;
  for (let i = 0; i < a.length / 2; i++) {
    const sum = a.readInt16LE(i * 2) + b.readInt16LE(i * 2) * 0.5;
    if (written.readInt16LE(i * 2) !== Math.max(-32768, Math.min(32767, roundHalfToEven(sum)))) mismatches++;
  }
  t.equal(mismatches, 0, 'every sample is the clipped sum');
});

t.test('errors: every status with its code, and nothing left behind', async (t) => {
  const { server, base } = await fileServer(t, { MAX_STREAMS: '1', STREAM_IDLE_TIMEOUT_MS: '300', MAX_STREAM_SECONDS: '1' });
  const pid = server.child.pid!;
  const post = (body: Buffer, contentType?: string, query = '') =>
    fetch(`${base}/v1/streams${query}`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });
  const fdsBefore = openFds(pid);
  t.ok(fdsBefore > 0);

  await t.test('415 for a type that is not audio we play, listing what is', async (t) => {
    const response = await post(Buffer.from('hello'), 'text/plain');
    t.equal(response.status, 415);
    const body = (await response.json()) as { error: { code: string; message: string; hint: string } };
    t.equal(body.error.code, 'E_UNSUPPORTED_MEDIA_TYPE');
    t.match(body.error.message, 'text/plain');
    t.match(body.error.hint, 'audio/wav');
    t.match(body.error.hint, 'audio/L16');
    const missing = await post(Buffer.from('hello there'));
    t.equal(missing.status, 415, 'no type: the first bytes decide, and these are no audio');
    t.match(await missing.json(), { error: { code: 'E_UNSUPPORTED_MEDIA_TYPE', message: 'the request declares no audio type, and its body is bytes of no known audio format (starts with 68 65 6c 6c 6f 20 74 68)' } });
  });

  await t.test('400 with the exact reason for a malformed header or parameter', async (t) => {
    const zeroChannels = await post(Buffer.alloc(16), 'audio/pcm;rate=48000;channels=0;format=s16le');
    t.equal(zeroChannels.status, 400);
    t.match(await zeroChannels.json(), { error: { code: 'E_INVALID_PARAMETER', message: /channels=0/ } });
    const notRiff = await post(Buffer.from('RIFX0000WAVEfmt '), 'audio/wav');
    t.equal(notRiff.status, 400);
    t.match(await notRiff.json(), { error: { code: 'E_UNSUPPORTED_ENCODING', message: /RIFX/ } });
    const gain = await post(Buffer.alloc(4), RAW_S16, '?gain=loud');
    t.equal(gain.status, 400);
    t.match(await gain.json(), { error: { code: 'E_INVALID_PARAMETER', message: 'gain must be a decimal number of dB from -120 to 24; got "loud"' } });
    const tooLoud = await post(Buffer.alloc(4), RAW_S16, '?gain=30');
    t.equal(tooLoud.status, 400);
    t.match(await tooLoud.json(), { error: { code: 'E_INVALID_PARAMETER', message: 'gain must be a decimal number of dB from -120 to 24; got "30"' } });
  });

  await t.test('413 beyond MAX_STREAM_SECONDS, after the first seconds played', async (t) => {
    const response = await post(s16Pattern(96_000, 2), RAW_S16);
    t.equal(response.status, 413);
    t.match(await response.json(), { error: { code: 'E_STREAM_TOO_LONG', message: 'the stream is longer than MAX_STREAM_SECONDS=1; the first 48000 frames (1.000 s) played' } });
  });

  await t.test('429 with Retry-After once MAX_STREAMS streams play', async (t) => {
    const holder = postStreaming(`${base}/v1/streams`, RAW_S16);
    holder.writer.write(Buffer.alloc(4)); // the client sends headers with its first bytes
    await waitForStreams(base, 1);
    const refused = await post(Buffer.alloc(4), RAW_S16);
    t.equal(refused.status, 429);
    t.equal(refused.headers.get('retry-after'), '1');
    t.match(await refused.json(), { error: { code: 'E_TOO_MANY_STREAMS', message: '1 streams are already playing, the most this instance mixes (MAX_STREAMS=1)' } });
    holder.writer.end();
    t.equal((await holder.response).status, 200);
  });

  await t.test('408 when the body pauses longer than STREAM_IDLE_TIMEOUT_MS; what arrived has played', async (t) => {
    const idle = postStreaming(`${base}/v1/streams`, RAW_S16);
    idle.writer.write(s16Constant(4800, 2, 5));
    const response = await idle.response;
    t.equal(response.status, 408);
    t.match(await response.json(), { error: { code: 'E_STREAM_IDLE', message: 'the audio did not advance by a period (1024 device frames) in STREAM_IDLE_TIMEOUT_MS=300 ms of waiting for the body; 4800 frames (0.100 s) played' } });
    idle.writer.fail();
  });

  await t.test('409 for a stream stopped by DELETE, 404 for an unknown one', async (t) => {
    const victim = postStreaming(`${base}/v1/streams?name=victim`, RAW_S16);
    victim.writer.write(s16Constant(2400, 2, 1));
    const [listed] = await waitForStreams(base, 1);
    const one = await fetch(`${base}/v1/streams/${listed!.id}`);
    t.match(await one.json(), { id: listed!.id, name: 'victim' });
    const stopped = await fetch(`${base}/v1/streams/${listed!.id}`, { method: 'DELETE' });
    t.equal(stopped.status, 200);
    t.same(await stopped.json(), { id: listed!.id, stopped: true });
    const response = await victim.response;
    t.equal(response.status, 409);
    t.match(await response.json(), { error: { code: 'E_STREAM_STOPPED' } });
    victim.writer.fail();
    const unknown = await fetch(`${base}/v1/streams/nope`, { method: 'DELETE' });
    t.equal(unknown.status, 404);
    t.match(await unknown.json(), { error: { code: 'E_STREAM_NOT_FOUND', message: 'no stream nope is playing' } });
  });

  await t.test('a client that disconnects stops its stream at once', async (t) => {
    const controller = new AbortController();
    const leaving = postStreaming(`${base}/v1/streams`, RAW_S16, {}, controller.signal);
    leaving.writer.write(s16Constant(2400, 2, 1));
    await waitForStreams(base, 1);
    controller.abort();
    await leaving.response.catch(() => undefined);
    t.same(await waitForStreams(base, 0), [], 'the stream is gone from the list');
  });

  t.same(await listStreams(base), [], 'no stream is left');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(openFds(pid), fdsBefore, 'no file, timer or event descriptor leaked in the server (sockets aside)');
});

t.test('AUTH_TOKEN guards /v1/* and leaves the probes open', async (t) => {
  const { base } = await fileServer(t, { AUTH_TOKEN: 's3cret' });
  const missing = await fetch(`${base}/v1/streams`);
  t.equal(missing.status, 401);
  t.match(await missing.json(), { error: { code: 'E_UNAUTHORIZED', message: 'this endpoint needs an Authorization: Bearer header' } });
  const wrong = await fetch(`${base}/v1/device`, { headers: { authorization: 'Bearer guess' } });
  t.equal(wrong.status, 401);
  t.match(await wrong.json(), { error: { code: 'E_UNAUTHORIZED', message: 'the bearer token is wrong' } });
  const right = await fetch(`${base}/v1/streams`, { headers: { authorization: 'Bearer s3cret' } });
  t.equal(right.status, 200);
  for (const probe of ['/healthz', '/livez', '/readyz']) t.equal((await fetch(`${base}${probe}`)).status, 200, `${probe} needs no token`);
});

t.test('SIGTERM lets a running stream finish within the grace period, refuses new ones, and exits 0', async (t) => {
  const { server, base, out } = await fileServer(t, { SHUTDOWN_GRACE_MS: '5000' });
  const running = postStreaming(`${base}/v1/streams`, RAW_S16);
  running.writer.write(s16Constant(4800, 2, 7));
  await waitForStreams(base, 1);
  server.child.kill('SIGTERM');
  await waitForStatus(`${base}/readyz`, 503);
  const refused = await fetch(`${base}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW_S16 }, body: Buffer.alloc(4) });
  t.equal(refused.status, 503);
  t.match(await refused.json(), { error: { code: 'E_SHUTTING_DOWN' } });
  running.writer.write(s16Constant(4800, 2, 7));
  running.writer.end();
  const response = await running.response;
  t.equal(response.status, 200);
  t.match(await response.json(), { frames: 9600 });
  const [code, signal] = await server.exited;
  t.equal(code, 0);
  t.equal(signal, null);
  t.ok(readFileSync(out).equals(s16Constant(9600, 2, 7)));
});

t.test('SIGINT shuts down the same way', async (t) => {
  const { server, base } = await fileServer(t);
  const response = await fetch(`${base}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW_S16 }, body: s16Constant(4800, 2, 3) });
  t.equal(response.status, 200);
  server.child.kill('SIGINT');
  t.same(await server.exited, [0, null]);
  t.ok(server.logs.some((line) => line.msg === 'shutting down: no new streams' && line.signal === 'SIGINT'));
  t.ok(server.logs.some((line) => line.msg === 'stopped'));
});

t.test('SIGTERM cuts streams still playing when the grace period ends', async (t) => {
  const { server, base } = await fileServer(t, { SHUTDOWN_GRACE_MS: '200' });
  const lingering = postStreaming(`${base}/v1/streams`, RAW_S16);
  lingering.writer.write(s16Constant(2400, 2, 1));
  await waitForStreams(base, 1);
  server.child.kill('SIGTERM');
  const response = await lingering.response;
  t.equal(response.status, 503);
  t.match(await response.json(), { error: { code: 'E_SHUTTING_DOWN' } });
  t.same(await server.exited, [0, null]);
  lingering.writer.fail();
});

t.test('a body sent faster than real time is not idle while it waits for room in the ring', async (t) => {
  // The clock sink plays in real time; 3 s of audio sent at once fill the
  // 1.4 s ring, and the rest waits for room far longer than the idle limit.
  const server = await startServer(t, { AUDIO_MODE: 'headless', STREAM_IDLE_TIMEOUT_MS: '300' });
  await waitForStatus(`${server.url}/healthz`, 200);
  const started = Date.now();
  const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW_S16 }, body: s16Pattern(144_000, 2) });
  const seconds = (Date.now() - started) / 1000;
  t.equal(response.status, 200);
  t.match(await response.json(), { frames: 144_000, seconds: 3, underruns: 0, truncated: false, mode: 'headless' });
  t.ok(seconds >= 2.9, `played in real time (${seconds.toFixed(2)} s), so the body waited for room`);
});
