// The chunk budget on an injected clock.
import t from 'tap';
import { CHUNK_BURST, CHUNKS_PER_SECOND, ChunkBudget, FREE_CHUNK_BYTES } from '../../src/engine/chunk-budget';

t.test('chunks of a sensible size never wait', async (t) => {
  let now = 0;
  const budget = new ChunkBudget(() => now);
  // 20 ms of 48 kHz stereo S16 per chunk (3840 bytes: 3 hex digits and
  // two CRLFs), on time for a minute; then 1 ms chunks (192 bytes) for one.
  let waits = 0;
  let wire = 0;
  let body = 0;
  // The socket's count runs up to a read (64 KiB) ahead of the body.
  const read = (bytes: number, overhead: number) => {
    body += bytes;
    wire += bytes + overhead;
    budget.spend(wire + (body % 65536 > 32768 ? 65536 : 0), body);
    if (budget.delayMs() > 0) waits++;
  };
  for (let i = 0; i < 3000; i++) {
    now += 20;
    read(3840, 7);
  }
  for (let i = 0; i < 60_000; i++) {
    now += 1;
    read(192, 6);
  }
  t.equal(waits, 0, 'no read waited');
  t.equal(new ChunkBudget(() => 0).delayMs(), 0, 'a new body starts with its burst');
});

t.test('an upload in 64 KiB chunks never waits, however fast', async (t) => {
  let now = 0;
  const budget = new ChunkBudget(() => now);
  // curl -T: 64 KiB chunks framed by "10000\r\n" and "\r\n", 4 GiB at
  // 655 MB/s. Before body bytes paid for chunks, this ran out of its burst
  // after about 800 MB and then waited for every chunk.
  let waits = 0;
  let body = 0;
  for (let i = 0; i < 65536; i++) {
    now += 0.1;
    body += 65536;
    budget.spend(body + (i + 1) * 9, body);
    if (budget.delayMs() > 0) waits++;
  }
  t.equal(waits, 0, 'no read waited');
});

t.test('chunks smaller than FREE_CHUNK_BYTES pay the difference', async (t) => {
  const budget = new ChunkBudget(() => 0);
  // 1 KiB chunks ("400\r\n", data, "\r\n"), sent with no pause at all.
  let chunks = 0;
  while (budget.delayMs() === 0 && chunks < 10 * CHUNK_BURST) {
    chunks++;
    budget.spend(65536 + chunks * (1024 + 7), chunks * 1024);
  }
  // Each costs 7 / 5 chunks on the framing estimate, less the quarter its data pays.
  const perChunk = 7 / 5 - 1024 / FREE_CHUNK_BYTES;
  t.equal(chunks, Math.floor(CHUNK_BURST / perChunk) + 1, `throttled after ${chunks} chunks, not after the burst of ${CHUNK_BURST}`);
});

t.test('1-byte chunks are paid for: a burst, then the sustained rate', async (t) => {
  let now = 0;
  const budget = new ChunkBudget(() => now);
  let chunks = 0;
  // Beyond the read's worth of slack the socket's count may run ahead by.
  const read = (more: number) => {
    chunks += more;
    budget.spend(65536 + chunks * 6, chunks);
  };
  read(CHUNK_BURST);
  t.equal(budget.delayMs(), 0, 'one burst is free');
  read(CHUNKS_PER_SECOND);
  t.equal(budget.delayMs(), 1000, 'past it, a second per CHUNKS_PER_SECOND chunks');
  now += 400;
  t.equal(budget.delayMs(), 600, 'the budget refills with time');
  now += 600;
  t.equal(budget.delayMs(), 0);
  now += 3_600_000;
  read(CHUNK_BURST + 2);
  t.ok(budget.delayMs() > 0, 'an hour of quiet refills no more than one burst');
});

t.test('a Content-Length body costs nothing', async (t) => {
  const budget = new ChunkBudget(() => 0);
  budget.spend(10_000_000 + 65536, 10_000_000);
  t.equal(budget.delayMs(), 0);
});
