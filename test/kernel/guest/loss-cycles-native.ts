// The engine alone, in this process, through 60 unplugs of a real card:
// open hw:Loopback,0,0, play, unbind the driver mid-stream, see the loss,
// close, bind again. loopback.ts runs the same cycle through the service and
// bounds its RSS; RSS there also carries V8's heap and the service's own
// JS, and its growth (2-3 MiB over 90 cycles) sat near the bound. Here
// malloc's own count of the bytes it has handed out (mallinfo2), after a
// full GC, says what the addon and alsa-lib keep per cycle, RSS aside.
import t from 'tap';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mallocBytesInUse } from '../../../src/engine/addon';
import { openDevice, type NativeError } from '../../../src/engine/native';
import { openFdCount, s16Pattern, threadCount } from '../../pcm-fixtures';
import { LOOPBACK, replug, unplug } from '../lib/sound-card';

const PCM = 'hw:Loopback,0,0';
const WARM_UP = 20;
const MEASURED = 40;
// Each cycle opens and closes a PCM, its control and its mappings: what
// alsa-lib and the addon allocate for it must all come back. The bound
// leaves room for malloc's own bookkeeping, not for a leak of any buffer
// (a period of stereo S16 is 4 KiB, a ring of it 16 KiB).
const BOUND_BYTES_PER_CYCLE = 1024;

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Plays into the card, unplugs it mid-stream, and returns once the device is closed and the card is back. */
async function cycle(i: number): Promise<void> {
  const device = await openDevice({ pcm: PCM });
  const lost = once(device, 'error') as Promise<[NativeError]>;
  const stream = device.createStream({ ringFrames: 4096 });
  const written = stream.writeAll(s16Pattern(48_000, 2, i));
  while (device.stats().framesCommitted < 4096) await new Promise((resolve) => setTimeout(resolve, 5));
  const { returned } = unplug(LOOPBACK);
  const [[error], result] = await Promise.all([lost, stream.finished()]);
  await written;
  if (error.code !== 'E_DEVICE_LOST' || result.outcome !== 'device_lost') {
    throw new Error(`cycle ${i}: ${error.code} ${error.message}; the stream ended ${result.outcome}`);
  }
  await device.close();
  await returned;
  replug(LOOPBACK);
}

t.test(`${MEASURED} unplugs of a real card in one process: the engine keeps no memory, descriptor or thread`, async (t) => {
  // malloc's arenas, alsa-lib's configuration cache and V8's heap settle first.
  for (let i = 0; i < WARM_UP; i++) await cycle(i);
  await settle();
  const before = { malloc: mallocBytesInUse(), fds: openFdCount(), threads: threadCount(), rss: process.memoryUsage.rss() };
  for (let i = 0; i < MEASURED; i++) await cycle(WARM_UP + i);
  await settle();
  const after = { malloc: mallocBytesInUse(), fds: openFdCount(), threads: threadCount(), rss: process.memoryUsage.rss() };
  t.equal(after.fds, before.fds, 'file descriptors');
  t.equal(after.threads, before.threads, 'threads');
  const perCycle = (after.malloc - before.malloc) / MEASURED;
  t.ok(perCycle < BOUND_BYTES_PER_CYCLE, `malloc holds ${((after.malloc - before.malloc) / 1024).toFixed(1)} KiB more after ${MEASURED} cycles: ${perCycle.toFixed(0)} bytes a cycle (bound ${BOUND_BYTES_PER_CYCLE})`);
  t.comment(`figures: malloc in use ${(before.malloc / 1024).toFixed(0)} → ${(after.malloc / 1024).toFixed(0)} KiB, RSS ${(before.rss / 2 ** 20).toFixed(1)} → ${(after.rss / 2 ** 20).toFixed(1)} MiB over ${MEASURED} unplugs`);
});
