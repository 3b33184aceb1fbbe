// The body reader's buffer rule, on the real app over a real socket: a body
// starts with a 1 KiB high-water mark (Node stops reading its socket once
// that much waits unread, so a body of tiny chunks parses one socket read
// of them at a time) and gets Node's own mark back (16 KiB on Node 20,
// 64 KiB from Node 22) once 64 KiB of it came in chunks of 1 KiB or more
// (libuv then reads its socket several times a turn: the ingest rate). A
// body of 1-byte chunks never does.
import t from 'tap';
import { IncomingMessage } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { Readable, getDefaultHighWaterMark } from 'node:stream';
import pino from 'pino';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { AudioEngine } from '../../src/engine/engine';
import { CHUNK_BURST } from '../../src/engine/chunk-budget';
import { BodyReader, type BodyRead } from '../../src/engine/body-reader';
import { openDevice } from '../../src/engine/native';
import { connect, firstResponse } from '../service/raw-http';

const RAW_S16 = 'audio/L16;rate=48000;channels=2';

async function startApp(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const config = loadConfig({ AUDIO_MODE: 'headless', MAX_STREAMS: '4' });
  const logger = pino({ level: 'silent' });
  const engine = new AudioEngine({ audio: config.audio, maxStreams: 4 }, logger);
  await engine.start();
  const app = await buildApp(config, engine, logger);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const bodies: IncomingMessage[] = [];
  app.server.on('request', (request: IncomingMessage) => {
    if (request.method === 'POST') bodies.push(request);
  });
  t.teardown(() => app.close());
  return { port: (app.server.address() as AddressInfo).port, bodies, engine };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

function head(target: string): string {
  return `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: ${RAW_S16}\r\nTransfer-Encoding: chunked\r\n\r\n`;
}

/** Node's own mark for a request body. */
const NODE_MARK = getDefaultHighWaterMark(false);

/** A reader of a request body (no socket behind it) feeding a stream of a null PCM; the stream and device end with the test. */
async function requestReader(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const device = await openDevice({ pcm: 'null', alsaConfig: 'pcm.null { type null }', underrun: 'wait' });
  const stream = device.createStream();
  t.teardown(async () => {
    stream.abort();
    await stream.finished();
    await device.close();
  });
  const request = new IncomingMessage(new Socket());
  return { stream, request, reader: new BodyReader(request, stream) };
}

/** The read, which must be a batch of data. */
function dataOf(read: BodyRead | undefined): { kind: 'data'; bytes: Buffer } {
  if (read?.kind !== 'data') throw new Error(`expected data, got ${read?.kind}`);
  return read;
}

t.test('a body of sensible chunks gets Node\'s mark back; one of 1-byte chunks keeps 1 KiB', async (t) => {
  const { port, bodies, engine } = await startApp(t);

  const steady = await connect(port);
  const steadyAnswer = firstResponse(steady);
  steady.write(head('/v1/streams?name=steady'));
  // 200 chunks of 20 ms of 48 kHz stereo: a live source's pace, sent at once.
  const slice = Buffer.alloc(3840);
  for (let i = 0; i < 200; i++) steady.write(`${slice.length.toString(16)}\r\n${slice.toString('latin1')}\r\n`, 'latin1');
  await until(() => bodies.length === 1 && bodies[0]!.readableHighWaterMark === NODE_MARK);
  t.pass(`the steady body, 64 KiB in: Node's ${NODE_MARK / 1024} KiB`);

  const tiny = await connect(port);
  const tinyAnswer = firstResponse(tiny);
  tiny.write(head('/v1/streams?name=tiny'));
  // Four times the burst of 1-byte chunks (4 of them a frame), in one
  // write: past the burst even as the budget estimates chunks (from the
  // framing, with a socket read's worth of slack).
  tiny.write('1\r\n\0\r\n'.repeat(4 * CHUNK_BURST), 'latin1');
  await until(() => bodies.length === 2 && bodies[1]!.socket.bytesRead >= 64 * 1024);
  await until(() => [...engine.streams.values()].some((stream) => stream.name === 'tiny' && stream.firstByteNs > 0));
  t.equal(bodies[1]!.readableHighWaterMark, 1024, 'the body of 1-byte chunks, 64 KiB in: still 1 KiB');

  steady.end('0\r\n\r\n');
  tiny.destroy();
  const answer = await steadyAnswer;
  t.equal(answer?.status, 200, 'the steady body played');
  t.equal(answer?.json?.frames, 200 * 960, 'all of it');
  await tinyAnswer;
  await until(() => engine.streams.size === 0);
  t.pass('both streams ended');
});

t.test('a request\'s batch given back is freed at once; one that shares its memory, or any other body\'s, is left alone', async (t) => {
  const { stream, request, reader } = await requestReader(t);

  request.push(Buffer.alloc(65536, 1)); // as Node's parser hands over a chunk: a buffer of its own
  const chunk = dataOf(await reader.next(60_000));
  t.equal(chunk.bytes.length, 65536);
  reader.release(chunk.bytes);
  t.equal(chunk.bytes.length, 0, 'its memory is gone');

  request.push(Buffer.from('abcd')); // a slice of Node's pool
  const small = dataOf(await reader.next(60_000));
  reader.release(small.bytes);
  t.equal(small.bytes.toString(), 'abcd', 'the pool is untouched');
  reader.dispose();

  // A body that is not a request (inject() pushes the caller's own payload).
  const other = new Readable({ read() {} });
  const otherReader = new BodyReader(other, stream);
  const payload = Buffer.alloc(65536, 2);
  other.push(payload);
  const batch = dataOf(await otherReader.next(60_000));
  otherReader.release(batch.bytes);
  t.equal(payload.length, 65536, "the maker's buffer is left as it was");
  otherReader.dispose();

});

t.test('big buffered chunks are read one by one and each is freed; small ones are joined into one batch', async (t) => {
  const { stream, request, reader } = await requestReader(t);

  // One socket read of a chunked body: the end of one chunk and the start of the next.
  const first = Buffer.alloc(40_000, 1);
  const second = Buffer.alloc(25_000, 2);
  request.push(first);
  request.push(second);
  const a = dataOf(reader.poll());
  const b = dataOf(reader.poll());
  t.equal(a.bytes, first, 'the first chunk, not a copy joined with the second');
  t.equal(b.bytes, second, 'then the second');
  reader.release(a.bytes);
  reader.release(b.bytes);
  t.same([first.length, second.length], [0, 0], 'both are freed once given back');
  t.equal(reader.poll(), undefined, 'nothing is left: poll() does not wait');

  request.push(Buffer.from([1, 2]));
  request.push(Buffer.from([3]));
  request.push(Buffer.from([4, 5, 6]));
  const joined = dataOf(reader.poll());
  t.same([...joined.bytes], [1, 2, 3, 4, 5, 6], 'small chunks come as one batch');

  request.push(null);
  t.equal((await reader.next(60_000)).kind, 'end', 'then the end');
  reader.dispose();
});

t.test('a wait for the client ends at its deadline, and one woken by data leaves no timer behind', async (t) => {
  const { stream, request, reader } = await requestReader(t);

  const started = Date.now();
  const idle = await reader.next(30);
  t.equal(idle.kind, 'timeout', 'nothing came: a timeout');
  t.ok(Date.now() >= started + 30, 'not before its deadline');

  const events: string[] = [];
  const waiting = reader.next(60_000).then((read) => events.push(`read ${read.kind}`));
  setImmediate(() => {
    events.push('pushed');
    request.push(Buffer.alloc(20_000));
  });
  await waiting;
  t.same(events, ['pushed', 'read data'], 'woken by the data');

  reader.dispose();
  const timers = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((kind) => kind === 'Timeout');
  t.same(timers, [], 'dispose() leaves no timer');
});

t.test('a body proven big flows: every byte comes in order across the switch, and a full queue pauses it as Node would', async (t) => {
  const { stream, request, reader } = await requestReader(t);
  const chunkBytes = 4096;
  let sent = 0;
  const push = () => request.push(Buffer.alloc(chunkBytes, sent++ & 0xff));
  const received: number[] = [];
  const take = async () => {
    const read = dataOf(await reader.next(60_000));
    for (let at = 0; at < read.bytes.length; at += chunkBytes) received.push(read.bytes[at]!);
  };

  // 64 KiB in chunks of 4 KiB proves the body; two more wait in Node's buffer as it switches.
  for (let i = 0; i < 16; i++) {
    push();
    await take();
  }
  t.equal(request.readableHighWaterMark, NODE_MARK, "proven: Node's own mark");
  push();
  push();
  await take();
  while (received.length < sent) await take();
  t.same(received, Array.from({ length: sent }, (_, i) => i & 0xff), 'every chunk once, in order, across the switch');
  t.equal(request.listenerCount('readable'), 0, "it flows: no 'readable' listener");

  // Nothing is read (a full ring): the queue fills, then the body pauses and Node buffers.
  const pushedBefore = sent;
  let accepted = true;
  for (let i = 0; i < (2 * 256 * 1024 + 4 * NODE_MARK) / chunkBytes; i++) accepted = push() && accepted;
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(request.isPaused(), true, 'paused once the queue was full');
  t.equal(accepted, false, "Node's push() said stop: its socket would stop too");
  while (received.length < sent) await take();
  t.same(received.slice(pushedBefore), Array.from({ length: sent - pushedBefore }, (_, i) => (pushedBefore + i) & 0xff), 'then all of it, in order');
  t.equal(request.isPaused(), false, 'and it flows again');
  request.push(null);
  t.equal((await reader.next(60_000)).kind, 'end');
  reader.dispose();
});

t.test('a fast body that waits for room in the ring is held by its queue, not by the chunk budget', async (t) => {
  // The clock sink plays in real time: 4 s of audio sent at once fill the
  // ring (1.4 s) and the flowing body's queue, and the socket stops. The
  // bytes queued have arrived on the socket; counted as framing, they once
  // cost the body tens of thousands of chunks and a throttle of seconds.
  const { port } = await startApp(t);
  const socket = await connect(port);
  const answer = firstResponse(socket);
  socket.write(head('/v1/streams?name=fast'));
  const frames = 4 * 48_000;
  const body = Buffer.alloc(frames * 4, 1);
  for (let at = 0; at < body.length; at += 65_536) {
    const piece = body.subarray(at, at + 65_536);
    socket.write(`${piece.length.toString(16)}\r\n`);
    socket.write(piece);
    socket.write('\r\n');
  }
  socket.end('0\r\n\r\n');
  const response = await answer;
  t.equal(response?.status, 200, `played to the end, not cut: ${JSON.stringify(response?.json)}`);
  t.match(response?.json, { frames, underruns: 0, truncated: false });
});
