// A producer's writes in one turn of the event loop wake the playback
// thread at most once, at the end of the turn (native/src/turn_end_wakes.h),
// unless one leaves the ring half full or finds it full: then at once. The
// frames play the same either way.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openDevice } from '../../src/engine/native';
import { filePcmConfig, s16Pattern, scratchDir } from '../pcm-fixtures';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

t.test('small writes in one turn cost at most one wake, after the turn, and all play', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), underrun: 'wait', periodFrames: 256 });
  const stream = device.createStream({ ringFrames: 65536 });
  await nextTurn();
  const samples = s16Pattern(20 * 512, 2);
  const wakesBefore = device.stats().producerWakes;
  for (let i = 0; i < 20; i++) {
    t.equal(stream.write(samples.subarray(i * 2048, (i + 1) * 2048)), 512);
  }
  t.equal(device.stats().producerWakes, wakesBefore, 'no write below half a ring woke the thread itself');
  await nextTurn();
  t.ok(device.stats().producerWakes - wakesBefore <= 1, `the turn's end woke it at most once (${device.stats().producerWakes - wakesBefore})`);
  stream.end();
  const result = await stream.finished();
  t.equal(result.frames, 20 * 512);
  await device.close();
  t.ok(readFileSync(out).equals(samples), 'the file holds every frame, in order');
});

t.test('turns of writes into a fast PCM: one wake per turn at most, and the frames come out exact', async (t) => {
  const out = path.join(scratchDir(t), 'out.raw');
  const device = await openDevice({ pcm: 'out', alsaConfig: filePcmConfig('out', out), underrun: 'wait', periodFrames: 256 });
  const stream = device.createStream({ ringFrames: 16384 });
  const samples = s16Pattern(200 * 1024, 2);
  const wakesBefore = device.stats().producerWakes;
  let turns = 0;
  // Four 1024-frame writes a turn, in turns that find room for them below
  // half the ring: none of them may wake the thread itself.
  for (let offset = 0; offset < samples.length; await nextTurn()) {
    if (stream.stats().bufferedFrames + 4096 >= 8192) continue;
    const wakesAtStart = device.stats().producerWakes;
    for (let i = 0; i < 4 && offset < samples.length; i++, offset += 4096) {
      t.equal(stream.write(samples.subarray(offset, offset + 4096)), 1024);
    }
    if (device.stats().producerWakes !== wakesAtStart) t.fail('a write below half the ring woke the thread');
    turns++;
  }
  const wakes = device.stats().producerWakes - wakesBefore;
  t.ok(wakes <= turns, `${wakes} wakes for ${turns} turns of 4 writes`);
  stream.end();
  t.equal((await stream.finished()).frames, 200 * 1024);
  await device.close();
  t.ok(readFileSync(out).equals(samples), 'the file holds every frame, in order');
});

t.test('a device closed with a wake pending closes cleanly, and its stream is done', async (t) => {
  const device = await openDevice({ pcm: 'null', alsaConfig: 'pcm.null { type null }', underrun: 'wait' });
  const stream = device.createStream();
  stream.write(s16Pattern(512, 2));
  const closed = device.close(); // in the same turn as the write
  const result = await stream.finished();
  await closed;
  t.ok(result.outcome === 'closed' || result.outcome === 'played', `the stream ended ${result.outcome}`);
  await nextTurn();
  t.equal(device.stats().open, false);
});
