import t from 'tap';
import { once } from 'node:events';
import { openClockSink, openDevice } from '../../src/engine/native';
import { s16Pattern } from '../pcm-fixtures';

t.test('writing faster than playback takes partial counts, then emits drain', async (t) => {
  const device = await openClockSink({ periodFrames: 1024, idleMs: 0 });
  const stream = device.createStream({ ringFrames: 8192 });
  t.equal(stream.stats().capacityFrames, 8192);
  const second = s16Pattern(48000, 2);

  // The device takes up to a buffer (4 periods) at once, then the ring fills.
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) counts.push(stream.write(second));
  t.equal(counts[0], 8192, 'the first write fills the empty ring');
  t.ok(counts.every((n) => n < 48000), `every write is partial (${counts.join(', ')} frames)`);
  const accepted = counts.reduce((a, b) => a + b, 0);
  t.ok(accepted <= 8192 + 4096, 'no more than the ring and the device buffer were taken');

  await once(stream, 'drain');
  // A drain may still be in flight from an earlier short write; wait for the
  // one that follows this full ring.
  if (stream.stats().capacityFrames - stream.stats().bufferedFrames < 4096) await once(stream, 'drain');
  const free = stream.stats().capacityFrames - stream.stats().bufferedFrames;
  t.ok(free >= 4096, `drain comes once half the ring is free (${free} frames free)`);
  t.ok(stream.write(second.subarray(0, 4096 * 4)) === 4096, 'after drain the ring takes frames again');
  stream.abort();
  const result = await stream.finished();
  t.equal(result.outcome, 'aborted');
  t.ok(result.frames > 0 && result.frames < accepted + 4096, `aborted after playing ${result.frames} frames`);
  await device.close();
});

t.test('200 MiB through a bounded ring keeps memory flat', async (t) => {
  const device = await openDevice({
    pcm: 'sink',
    alsaConfig: 'pcm.sink { type file slave.pcm null file "/dev/null" format raw }',
    underrun: 'wait',
  });
  const stream = device.createStream();
  const chunk = s16Pattern(16384, 2); // 64 KiB
  const totalChunks = (200 * 1024 * 1024) / chunk.length;
  global.gc?.();
  const before = process.memoryUsage.rss();
  let peak = before;
  for (let i = 0; i < totalChunks; i++) {
    await stream.writeAll(chunk);
    if (i % 256 === 0) peak = Math.max(peak, process.memoryUsage.rss());
  }
  stream.end();
  const result = await stream.finished();
  t.equal(result.frames, totalChunks * 16384);
  const growthMiB = (peak - before) / 2 ** 20;
  t.ok(growthMiB < 16, `RSS grew by ${growthMiB.toFixed(1)} MiB while 200 MiB went through`);
  await device.close();
});
