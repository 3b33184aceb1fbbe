import t from 'tap';
import { FrameSplitter } from '../../src/formats/frame-splitter';
import { audioBytes } from './fixtures/bodies';

t.test('whole frames in a chunk come out as one view of it, not a copy', async (t) => {
  const splitter = new FrameSplitter(4);
  const chunk = audioBytes(12);
  const [frames, ...rest] = splitter.split(chunk);
  t.same(rest, []);
  t.equal(frames!.buffer, chunk.buffer, 'the same memory');
  t.equal(frames!.byteOffset, chunk.byteOffset);
  t.equal(frames!.length, 12);
  t.equal(splitter.partialBytes, 0);
});

t.test('a frame split across chunks is completed by the next and handed out as its own buffer', async (t) => {
  const splitter = new FrameSplitter(6);
  const data = audioBytes(20);
  t.same(splitter.split(data.subarray(0, 4)), [], 'less than a frame: nothing');
  t.equal(splitter.partialBytes, 4);
  t.same(splitter.split(data.subarray(4, 5)), [], 'still less than a frame');
  t.equal(splitter.partialBytes, 5);
  const out = splitter.split(data.subarray(5, 20));
  t.same(
    out.map((b) => [...b]),
    [[...data.subarray(0, 6)], [...data.subarray(6, 18)]],
    'the completed frame, then the two whole frames after it',
  );
  t.equal(splitter.partialBytes, 2, 'two bytes of the next frame wait');
});

t.test('a completed frame is not overwritten by later chunks', async (t) => {
  const splitter = new FrameSplitter(2);
  splitter.split(Buffer.from([1]));
  const [first] = splitter.split(Buffer.from([2, 3]));
  splitter.split(Buffer.from([4]));
  t.same([...first!], [1, 2]);
});

t.test('an empty chunk changes nothing', async (t) => {
  const splitter = new FrameSplitter(3);
  splitter.split(Buffer.from([1]));
  t.same(splitter.split(Buffer.alloc(0)), []);
  t.equal(splitter.partialBytes, 1);
});
