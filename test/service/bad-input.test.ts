// Malformed bodies over real HTTP: every one gets 400 or 415 with a typed
// code, never a 500, and the server keeps serving with nothing left behind.
// The app runs in this process (a real socket, no child process to start):
// a crash would fail the test, and its descriptors are this process's.
import t from 'tap';
import { Random, audioBytes, chunk, fmtBody, pcm16, riffHeader, wav } from '../formats/fixtures/bodies';
import { listStreams, openFds } from './http-client';
import { startInProcessApp } from './in-process-app';
import { fileDeviceEnv } from './server-process';

const corpus: [name: string, contentType: string, body: Buffer][] = [
  ['empty body', 'audio/wav', Buffer.alloc(0)],
  ['truncated RIFF header', 'audio/wav', Buffer.from('RIFF\x10\x00')],
  ['not RIFF', 'audio/wav', Buffer.from('OggS\x00\x02\x00\x00\x00\x00\x00\x00')],
  ['ID3 (an MP3)', 'audio/wav', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00')],
  ['data before fmt', 'audio/wav', Buffer.concat([riffHeader('RIFF', 100), chunk('data', audioBytes(16))])],
  ['0 channels', 'audio/wav', wav({ fmt: pcm16(0), data: audioBytes(16) })],
  ['absurd rate', 'audio/wav', wav({ fmt: pcm16(2, 4_000_000_000), data: audioBytes(16) })],
  ['MP3 inside WAV', 'audio/wav', wav({ fmt: { formatTag: 0x55, channels: 2, rate: 44100, bitsPerSample: 0 }, data: audioBytes(16) })],
  ['12-bit PCM', 'audio/wav', wav({ fmt: { formatTag: 1, channels: 2, rate: 44100, bitsPerSample: 12 }, data: audioBytes(16) })],
  ['huge fmt chunk', 'audio/wav', Buffer.concat([riffHeader('RIFF', 0), chunk('fmt ', fmtBody(pcm16()), 70_000)])],
  ['wrong chunk size', 'audio/wav', Buffer.concat([riffHeader('RIFF', 0), chunk('fmt ', fmtBody(pcm16()), 3), audioBytes(64)])],
  ['header ends early', 'audio/wav', wav({ fmt: pcm16(), data: audioBytes(16) }).subarray(0, 30)],
  ['L16 without rate', 'audio/L16', audioBytes(16)],
  ['pcm with 9 channels', 'audio/pcm;rate=48000;channels=9;format=s16le', audioBytes(18)],
  ['pcm with an unknown format', 'audio/pcm;rate=48000;channels=2;format=s8', audioBytes(16)],
  ['pcm with rate 0', 'audio/pcm;rate=0;channels=2;format=s16le', audioBytes(16)],
  ['video', 'video/mp4', audioBytes(16)],
  ['JSON', 'application/json', Buffer.from('{"play":"doorbell"}')],
];

t.test('a corpus of malformed bodies gets 400 or 415 with a code, never 500', async (t) => {
  const server = await startInProcessApp(t, fileDeviceEnv('/dev/null'));
  const { engine } = server;
  t.equal((await fetch(`${server.url}/healthz`)).status, 200);
  t.equal(engine.mode, 'device', 'into the file PCM');
  const fdsBefore = openFds(process.pid);
  const random = new Random(2026);
  const mutated: [string, string, Buffer][] = [];
  for (let i = 0; i < 300; i++) {
    const body = Buffer.from(wav({ fmt: pcm16(1 + random.below(8), 8000 + random.below(90_000)), data: audioBytes(64, i) }));
    for (let flips = 1 + random.below(4); flips > 0; flips--) body[random.below(44)] = random.below(256);
    mutated.push([`mutation ${i}`, 'audio/wav', body.subarray(0, 12 + random.below(body.length - 11))]);
  }
  const statuses = new Map<number, number>();
  for (const [name, contentType, body] of [...corpus, ...mutated]) {
    const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': contentType }, body });
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    const reply = (await response.json()) as { error?: { code: string; message: string; hint: string }; frames?: number };
    if (response.status === 200) {
      // A mutation may leave a valid header: then it plays.
      if (!name.startsWith('mutation')) t.fail(`${name}: played`);
      continue;
    }
    if (![400, 415].includes(response.status) || !/^E_[A-Z_]+$/.test(reply.error?.code ?? '') || !reply.error?.message || !reply.error?.hint) {
      t.fail(`${name}: ${response.status} ${JSON.stringify(reply)}`);
    }
  }
  t.equal(statuses.get(500), undefined, `no 500 (statuses: ${JSON.stringify([...statuses])})`);
  for (const [name, contentType, body] of corpus) {
    const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': contentType }, body });
    t.ok([400, 415].includes(response.status), `${name}: ${response.status} ${(await response.json() as { error: { code: string } }).error.code}`);
  }
  t.equal((await fetch(`${server.url}/livez`)).status, 200, 'the server is still serving');
  t.same(await listStreams(server.url), []);
  t.equal(openFds(process.pid), fdsBefore, 'no descriptor leaked');
  t.equal(engine.streams.size, 0, 'no stream left in the engine');
});
