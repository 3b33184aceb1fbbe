// When nothing is left to play, speakerd gives the C heap's free pages back
// to the kernel (native/src/c_heap.h): once the last stream is done, not
// while another plays, and after a stream that failed as after one that
// played. The order of the log lines is what is asserted.
import t from 'tap';
import { s16Pattern } from '../pcm-fixtures';
import { postStreaming, waitForStreams } from './http-client';
import { generatedBody, HEAP_RETURNED } from './memory-fixtures';
import { fileDeviceEnv, startServer, untilLogged, waitForStatus, type ServerProcess } from './server-process';

const RAW = 'audio/pcm;rate=48000;channels=2;format=s16le';

async function debugServer(t: Parameters<Parameters<typeof t.test>[1]>[0], extra: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServer(t, fileDeviceEnv('/dev/null', { LOG_LEVEL: 'debug', ...extra }));
  await waitForStatus(`${server.url}/healthz`, 200);
  return server;
}

const indexOf = (server: ServerProcess, line: Record<string, unknown>) => server.logs.indexOf(line);

t.test('the free heap goes back once the last stream is done, not while another plays', async (t) => {
  // Gaps played as silence: under `wait`, the long stream's gap would hold
  // the short one back.
  const server = await debugServer(t, { AUDIO_UNDERRUN: 'silence' });
  // The long one: its body stays open while the short one comes and goes.
  const long = postStreaming(`${server.url}/v1/streams`, RAW);
  long.writer.write(s16Pattern(4800, 2));
  await waitForStreams(server.url, 1);
  const short = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: generatedBody(100 * 2 ** 20), duplex: 'half' } as RequestInit);
  t.equal(short.status, 200);
  t.equal(((await short.json()) as { frames: number }).frames, (100 * 2 ** 20) / 4, 'the short stream played');
  const shortPlayed = await untilLogged(server, (line) => line.msg === 'stream played');
  long.writer.end();
  t.equal((await long.response).status, 200);
  const longPlayed = await untilLogged(server, (line) => line.msg === 'stream played', 2);
  const returned = await untilLogged(server, (line) => HEAP_RETURNED.test(String(line.msg)));
  t.ok(indexOf(server, shortPlayed) < indexOf(server, longPlayed) && indexOf(server, longPlayed) < indexOf(server, returned), 'logged after the second stream ended, and not after the first while the second played');
  t.equal(server.logs.filter((line) => HEAP_RETURNED.test(String(line.msg))).length, 1, 'once');
  t.equal(returned.level, 20, 'at debug');
  t.ok(returned.ms >= 0 && returned.rssAfterMiB > 0, `took ${returned.ms} ms`);
  // 100 MiB of body went through 64 KiB chunks malloc handed out and took back.
  t.ok(returned.rssAfterMiB < returned.rssBeforeMiB, `RSS ${returned.rssBeforeMiB} → ${returned.rssAfterMiB} MiB`);
});

t.test('a stream whose client went away also leaves the service idle, and the heap goes back', async (t) => {
  const server = await debugServer(t);
  const controller = new AbortController();
  const aborted = postStreaming(`${server.url}/v1/streams`, RAW, {}, controller.signal);
  aborted.writer.write(s16Pattern(4800, 2));
  await waitForStreams(server.url, 1);
  controller.abort();
  await t.rejects(aborted.response, { name: 'AbortError' });
  const gone = await untilLogged(server, (line) => line.msg === 'stream ended early' && line.code === 'E_CLIENT_GONE');
  const returned = await untilLogged(server, (line) => HEAP_RETURNED.test(String(line.msg)));
  t.ok(indexOf(server, gone) < indexOf(server, returned), 'after the aborted stream ended');
  t.same(await waitForStreams(server.url, 0), [], 'no stream left in the table');
});

t.test('a stream refused before it was admitted does not count: nothing was played, nothing is returned', async (t) => {
  const server = await debugServer(t);
  const refused = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': 'audio/x-unknown' }, body: 'x' });
  t.equal(refused.status, 415);
  t.equal(((await refused.json()) as { error: { code: string } }).error.code, 'E_UNSUPPORTED_MEDIA_TYPE');
  // A stream after it: its heap return is the first.
  const played = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(480, 2) });
  t.equal(played.status, 200);
  const returned = await untilLogged(server, (line) => HEAP_RETURNED.test(String(line.msg)));
  const playedLine = await untilLogged(server, (line) => line.msg === 'stream played');
  t.ok(indexOf(server, playedLine) < indexOf(server, returned), 'the first heap return follows the stream that played');
});
