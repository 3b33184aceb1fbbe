// The playback and decode threads tell JS that events wait through a libuv
// async handle (native/src/loop_wake.h), not a ThreadSafeFunction, whose
// mutex let a descheduled decode thread hold the JS thread. The events must
// still reach JS as a callback from the loop would: process.nextTick and
// promise jobs that a listener queues run before the loop goes on, and a
// listener that throws is an uncaught exception, not a silence.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { openDevice } from '../../src/engine/native';

const nativeModule = path.resolve(__dirname, '../../dist/engine/native.js');

t.test("a listener's nextTick and promise jobs run before the loop's next phase", async (t) => {
  const device = await openDevice({ pcm: 'null', alsaConfig: 'pcm.null { type null }', underrun: 'wait' });
  const stream = device.createStream();
  const order: string[] = [];
  const seen = new Promise<void>((resolve) => {
    stream.once('done', () => {
      order.push('done');
      setImmediate(() => {
        order.push('immediate');
        resolve();
      });
      process.nextTick(() => order.push('nextTick'));
      void Promise.resolve().then(() => order.push('promise'));
    });
  });
  stream.write(Buffer.alloc(4800 * 4));
  stream.end();
  await seen;
  t.same(order, ['done', 'nextTick', 'promise', 'immediate']);
  await device.close();
});

function runNode(code: string) {
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000 });
}

t.test('a listener that throws is an uncaught exception with its own error', async (t) => {
  const result = runNode(`
    const { openClockSink } = require(${JSON.stringify(nativeModule)});
    process.on('uncaughtException', (error) => {
      console.log('uncaught:', error.message);
      process.exit(3);
    });
    openClockSink({ idleMs: 0 }).then((device) => {
      const stream = device.createStream();
      stream.on('done', (r) => { throw new Error('listener failed after ' + r.frames + ' frames'); });
      stream.write(Buffer.alloc(480 * 4));
      stream.end();
    });
  `);
  t.equal(result.signal, null, 'not killed by the timeout');
  t.equal(result.status, 3, result.stderr);
  t.equal(result.stdout, 'uncaught: listener failed after 480 frames\n');
});

t.test("a listener that threw costs no other event: the device's 'idle' and later streams still come", async (t) => {
  const result = runNode(`
    const { openClockSink } = require(${JSON.stringify(nativeModule)});
    process.on('uncaughtException', (error) => console.log('uncaught:', error.message));
    openClockSink({ idleMs: 0 }).then((device) => {
      device.once('idle', () => {
        console.log('idle');
        const second = device.createStream();
        second.write(Buffer.alloc(960 * 4));
        second.end();
        second.finished().then((r) => {
          console.log('second', r.outcome, r.frames);
          return device.close();
        });
      });
      const first = device.createStream();
      first.once('done', () => { throw new Error('first listener failed'); });
      first.write(Buffer.alloc(480 * 4));
      first.end();
    });
  `);
  t.equal(result.signal, null, 'not killed by the timeout');
  t.equal(result.status, 0, result.stderr);
  t.equal(result.stdout, 'idle\nuncaught: first listener failed\nsecond played 960\n');
});
