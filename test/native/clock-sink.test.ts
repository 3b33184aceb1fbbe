import t from 'tap';
import { openClockSink } from '../../src/engine/native';
import { s16Pattern } from '../pcm-fixtures';

// The sink's clock is CLOCK_MONOTONIC, which process.hrtime reads too. Its
// position is (now - start) * rate, and what was committed can be neither
// behind that position (it would be an xrun) nor more than one buffer ahead.
// So each sample below holds exactly, with no tolerance, however loaded the
// machine is: load only widens the window between `before` and `after`.
t.test('the clock sink consumes 3 s of audio at its nominal rate, by its own clock, while JS timers keep ticking', async (t) => {
  const rate = 48000;
  const device = await openClockSink({ rate, channels: 2, periodFrames: 1024, periods: 4, idleMs: 0 });
  t.equal(device.info.access, 'mmap');
  t.equal(device.info.pcm, 'speakerd-clock');
  const { bufferFrames } = device.info;
  const stream = device.createStream();
  const audio = s16Pattern(3 * rate, 2);

  const samples: { before: bigint; committed: number; after: bigint }[] = [];
  const timer = setInterval(() => {
    const before = process.hrtime.bigint();
    const committed = device.stats().framesCommitted;
    samples.push({ before, committed, after: process.hrtime.bigint() });
  }, 10);
  await stream.writeAll(audio);
  stream.end();
  const result = await stream.finished();
  const ended = process.hrtime.bigint();
  clearInterval(timer);

  t.equal(result.outcome, 'played');
  t.equal(result.frames, 3 * rate);
  t.equal(result.underruns, 0);
  t.equal(device.stats().xruns, 0, 'no device xruns: the clock never overtook what was committed');

  // The PCM starts after the first commit, so the clock counts from no earlier than that.
  const clockFramesSince = (from: bigint, to: bigint) => Number(((to - from) * BigInt(rate)) / 1_000_000_000n);
  const firstCommit = BigInt(result.firstCommitNs);
  const ahead = samples.filter((s) => s.committed > clockFramesSince(firstCommit, s.after) + bufferFrames);
  t.same(ahead, [], 'never more than one buffer ahead of the clock: it does not consume faster than the rate');
  // More than a buffer committed means the clock had started: from then on
  // the clock's frames since that sample are a lower bound on the device's
  // position, which the counter trails by at most the commit in progress
  // (at most a buffer).
  const startedBy = samples.find((s) => s.committed > bufferFrames);
  t.ok(startedBy, 'a timer tick saw the sink running');
  const behind = samples.filter((s) => s.before > startedBy!.after && s.committed < 3 * rate && s.committed + bufferFrames < clockFramesSince(startedBy!.after, s.before));
  t.same(behind, [], 'never behind the clock: it does not consume slower than the rate');
  t.ok(clockFramesSince(firstCommit, ended) >= 3 * rate - bufferFrames, 'the stream ended only once the clock had passed all but one buffer of it');

  const partPlayed = new Set(samples.filter((s) => s.committed > 0 && s.committed < 3 * rate).map((s) => s.committed));
  t.ok(partPlayed.size >= 2, `timers ran while it played: ${partPlayed.size} ticks saw it part-played`);
  await device.close();
});

t.test('one period buffered is enough for the first frame to reach the clock sink', async (t) => {
  const device = await openClockSink({ periodFrames: 256, periods: 4, idleMs: 0 });
  const stream = device.createStream();
  // Exactly one period, and the stream not ended: audio must start anyway.
  t.equal(stream.write(s16Pattern(256, 2)), 256);
  while (stream.stats().firstCommitNs === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  const { firstWriteNs, firstCommitNs } = stream.stats();
  t.ok(firstWriteNs > 0 && firstCommitNs >= firstWriteNs, 'both timestamps are set, the write first');
  stream.end();
  const result = await stream.finished();
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 256);
  await device.close();
});
