import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openClockSink, openDevice } from '../../src/engine/native';
import { filePcmConfig, s16Pattern, scratchDir } from '../pcm-fixtures';

t.test('a stream that stops writing gets silence in the output and one underrun, the device no xrun', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  // The silence policy over an unpaced file PCM: the device "needs" frames at
  // once, so the gap shows up as zeros in the file.
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), underrun: 'silence', idleMs: 0, periodFrames: 256 });
  const first = s16Pattern(2048, 2, 1);
  const second = s16Pattern(2048, 2, 2);
  const stream = device.createStream();
  const underruns: number[] = [];
  stream.on('underrun', (count: number) => underruns.push(count));
  await stream.writeAll(first);
  await sleep(20);
  // Write and end in one synchronous step. On an unpaced PCM even the pause
  // between the last write and end() can be a gap of its own, so the exact
  // count is checked on the paced clock sink below.
  const taken = stream.write(second);
  stream.end();
  t.equal(taken, 2048);
  const result = await stream.finished();
  t.ok(result.underruns >= 1, `the gap counted as an underrun (${result.underruns})`);
  // Events carry the running count; two gaps before JS looks make one event.
  t.ok(underruns.length >= 1 && underruns.length <= result.underruns, `underrun events: ${underruns.join(', ')}`);
  t.equal(underruns.at(-1), result.underruns, 'the last event carries the final count');
  t.equal(result.frames, 4096);
  t.equal(device.stats().xruns, 0);
  await device.close();

  const written = readFileSync(out);
  t.ok(written.subarray(0, first.length).equals(first), 'the first part plays intact');
  const afterGap = written.indexOf(second.subarray(0, 64), first.length);
  t.ok(afterGap > first.length, 'the second part follows a gap');
  t.ok(written.subarray(first.length, afterGap).every((byte) => byte === 0), 'the gap is digital silence');
  t.ok(written.subarray(afterGap, afterGap + second.length).equals(second), 'the second part plays intact');
});

t.test('on the paced clock sink a dry stream underruns while the device keeps running without xruns', async (t) => {
  const device = await openClockSink({ periodFrames: 512, periods: 4, idleMs: 0 });
  const stream = device.createStream();
  await stream.writeAll(s16Pattern(9600, 2)); // 200 ms
  const events: number[] = [];
  stream.on('underrun', (count: number) => events.push(count));
  await sleep(400);
  t.equal(stream.stats().underruns, 1, 'the stream counted the gap once');
  t.same(events, [1], 'one underrun event');
  t.equal(device.stats().running, true, 'silence kept the device running');
  await stream.writeAll(s16Pattern(4800, 2));
  stream.end();
  const result = await stream.finished();
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 14400);
  t.equal(result.underruns, 1);
  t.equal(device.stats().xruns, 0, 'the device never ran out');
  await device.close();
});

t.test('an idle device in the silence policy stops after idleMs', async (t) => {
  const device = await openClockSink({ periodFrames: 256, idleMs: 100 });
  const stream = device.createStream();
  await stream.writeAll(s16Pattern(2400, 2));
  stream.end();
  await stream.finished();
  t.equal(device.stats().running, true, 'still fed right after the stream');
  await sleep(300);
  t.equal(device.stats().running, false, 'stopped after idling for 100 ms');
  t.equal(device.stats().xruns, 0);
  await device.close();
});

t.test('under the wait policy a paced device that runs dry xruns, is recovered, counted and reported', async (t) => {
  const device = await openClockSink({ periodFrames: 256, periods: 4, underrun: 'wait' });
  const xruns: number[] = [];
  device.on('xrun', (count: number) => xruns.push(count));
  const stream = device.createStream();
  await stream.writeAll(s16Pattern(4800, 2)); // 100 ms
  await sleep(250); // the clock runs past the end of what was written
  await stream.writeAll(s16Pattern(4800, 2));
  stream.end();
  const result = await stream.finished();
  t.equal(result.outcome, 'played', 'the stream survives the xrun');
  t.equal(result.frames, 9600, 'and plays every frame');
  t.equal(result.underruns, 0, 'the wait policy never mixes silence');
  t.equal(device.stats().xruns, 1, 'one device xrun');
  t.same(xruns, [1], 'one xrun event with the running count');
  await device.close();
});
