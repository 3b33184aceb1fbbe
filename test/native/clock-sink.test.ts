import t from 'tap';
import { openClockSink } from '../../src/engine/native';
import { s16Pattern } from '../pcm-fixtures';

t.test('the clock sink plays 3 s of audio in 3 s (±2%) while JS timers keep ticking', async (t) => {
  const device = await openClockSink({ rate: 48000, channels: 2, periodFrames: 1024, periods: 4, idleMs: 0 });
  t.equal(device.info.access, 'mmap');
  t.equal(device.info.pcm, 'speakerd-clock');
  const stream = device.createStream();
  const audio = s16Pattern(3 * 48000, 2);

  let ticks = 0;
  let longestGapMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
    ticks++;
  }, 10);

  const started = performance.now();
  await stream.writeAll(audio);
  stream.end();
  const result = await stream.finished();
  const elapsedMs = performance.now() - started;
  clearInterval(timer);

  t.equal(result.outcome, 'played');
  t.equal(result.frames, 3 * 48000);
  t.equal(result.underruns, 0);
  t.ok(elapsedMs >= 3000 * 0.98 && elapsedMs <= 3000 * 1.02, `played 3 s in ${elapsedMs.toFixed(1)} ms`);
  t.ok(ticks >= 250, `a 10 ms timer ticked ${ticks} times`);
  t.ok(longestGapMs < 100, `the event loop never stalled (longest gap ${longestGapMs.toFixed(1)} ms)`);
  t.equal(device.stats().xruns, 0, 'no device xruns');
  await device.close();
});

t.test('the first frame reaches the clock sink within a period of the first write', async (t) => {
  const device = await openClockSink({ periodFrames: 256, periods: 4, idleMs: 0 });
  const stream = device.createStream();
  await stream.writeAll(s16Pattern(4800, 2));
  stream.end();
  const result = await stream.finished();
  const latencyMs = (result.firstCommitNs - result.firstWriteNs) / 1e6;
  t.ok(result.firstWriteNs > 0 && result.firstCommitNs >= result.firstWriteNs, 'both timestamps are set, in order');
  t.ok(latencyMs < (256 / 48000) * 1000 + 2, `first write to first commit took ${latencyMs.toFixed(3)} ms`);
  await device.close();
});
