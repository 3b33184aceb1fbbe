// freeBuffer: a buffer whose bytes have been copied where they go gives its
// memory back at once, not at V8's next GC; a buffer that shares its memory
// is left alone.
import t from 'tap';
import { freeBuffer } from '../../src/engine/native';

t.test('a buffer that is a whole ArrayBuffer is freed at once', async (t) => {
  const size = 64 * 1024 * 1024;
  const buffer = Buffer.alloc(size, 1);
  const before = process.memoryUsage().arrayBuffers;
  t.equal(freeBuffer(buffer), true, 'freed');
  t.equal(buffer.length, 0, 'it reads as empty from then on');
  t.equal(buffer.buffer.byteLength, 0);
  const after = process.memoryUsage().arrayBuffers;
  t.ok(before - after >= size, `V8's count of ArrayBuffer memory fell by ${((before - after) / 2 ** 20).toFixed(1)} MiB, not at a GC`);
  t.equal(freeBuffer(buffer), false, 'freeing it again does nothing');
});

t.test('a buffer that shares its ArrayBuffer is left to the GC', async (t) => {
  const pooled = Buffer.from('abcd'); // a slice of Node's 8 KiB pool
  t.equal(freeBuffer(pooled), false);
  t.equal(pooled.toString(), 'abcd', 'the pool is untouched');

  const whole = Buffer.alloc(16, 7);
  const part = whole.subarray(4, 8);
  t.equal(freeBuffer(part), false, 'part of a buffer');
  t.equal(freeBuffer(whole.subarray(0, 15)), false, 'all but its last byte');
  t.same([...whole], new Array(16).fill(7), 'the whole is untouched');
});

t.test('anything but a typed array is refused', async (t) => {
  for (const value of [undefined, 'text', new ArrayBuffer(8), { length: 4 }]) {
    t.throws(() => freeBuffer(value as unknown as Uint8Array), { name: 'TypeError', code: 'E_INVALID_ARG', message: 'freeBuffer() takes a Buffer or Uint8Array' });
  }
});
