// A timed stream at the card's rate is moved by its clock lock through the
// converter's four-point interpolator (native/src/drift_interpolator.h):
// every output frame must be the source at the position the ratio puts it,
// a new ratio must continue from where the last left off, and the stream
// must end where its source does.
import t from 'tap';
import { createConverter, type Converter } from '../../src/engine/converter';

const RATE = 48000;

function steerable(channels = 1): Converter {
  return createConverter({ from: { format: 'FLOAT_LE', rate: RATE, channels }, to: { format: 'FLOAT_LE', rate: RATE, channels }, steerable: true });
}

function sine(frames: number, hz: number, amplitude: number): Buffer {
  const out = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) out.writeFloatLE(amplitude * Math.sin((2 * Math.PI * hz * i) / RATE), i * 4);
  return out;
}

function floats(buffer: Buffer): Float32Array {
  return new Float32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length));
}

/** The worst error, in dB against the amplitude, of output frames against the ideal sine at their positions. */
function worstErrorDb(out: Float32Array, positions: (j: number) => number, hz: number, amplitude: number, count: number): number {
  let worst = 0;
  for (let j = 0; j < count; j++) worst = Math.max(worst, Math.abs(out[j]! - amplitude * Math.sin((2 * Math.PI * hz * positions(j)) / RATE)));
  return 20 * Math.log10(worst / amplitude);
}

for (const ppm of [500, -500, 200]) {
  t.test(`${ppm > 0 ? '+' : ''}${ppm} ppm: every frame is the source at its position, and the stream ends where the source does`, async (t) => {
    const ratio = 1 + ppm * 1e-6;
    const frames = RATE;
    for (const [hz, boundDb] of [[1000, -80], [10000, -22]] as const) {
      const c = steerable();
      c.steer(ratio);
      const body = floats(c.convert(sine(frames, hz, 0.5)));
      const tail = floats(c.flush());
      // Output frame j is at source position j × ratio and needs the input up
      // to its floor + 2, so j × ratio < frames - 2; the rest waits for flush().
      t.equal(body.length, Math.ceil((frames - 2) / ratio), `${hz} Hz: convert() gave every frame whose four neighbours had come`);
      t.equal(body.length + tail.length, Math.round(frames / ratio), `${hz} Hz: ${frames} frames at ${ratio} in, round(${frames} / ${ratio}) out`);
      const errorDb = worstErrorDb(body, (j) => j * ratio, hz, 0.5, body.length);
      t.ok(errorDb < boundDb, `${hz} Hz: the worst frame is ${errorDb.toFixed(1)} dB off the ideal sine (bound ${boundDb} dB)`);
    }
  });
}

t.test('a new ratio takes over at the next output frame, from where the last one left off', async (t) => {
  const c = steerable(2);
  const input = Buffer.alloc(RATE * 8);
  const left = floats(sine(RATE, 440, 0.5));
  const right = floats(sine(RATE, 3000, 0.25));
  for (let i = 0; i < RATE; i++) {
    input.writeFloatLE(left[i]!, i * 8);
    input.writeFloatLE(right[i]!, i * 8 + 4);
  }
  const first = 1 + 300e-6;
  const second = 1 - 400e-6;
  c.steer(first);
  const head = floats(c.convert(input.subarray(0, (RATE / 2) * 8)));
  c.steer(second);
  const rest = floats(c.convert(input.subarray((RATE / 2) * 8)));
  const n = head.length / 2;
  const position = (j: number) => (j < n ? j * first : n * first + (j - n) * second);
  const out = new Float32Array([...head, ...rest]);
  const channel = (k: number) => out.filter((_, i) => i % 2 === k);
  const frames = out.length / 2;
  t.ok(worstErrorDb(channel(0), position, 440, 0.5, frames) < -80, 'left, 440 Hz: every frame where the two ratios put it');
  t.ok(worstErrorDb(channel(1), position, 3000, 0.25, frames) < -50, 'right, 3 kHz: every frame where the two ratios put it');
  t.equal(frames, n + Math.ceil((RATE - 2 - n * first) / second), `${n} frames at ${first}, then ${frames - n} at ${second}`);
});

t.test('steer() refuses what a clock lock never asks for', async (t) => {
  const plain = createConverter({ from: { format: 'S16_LE', rate: RATE, channels: 2 }, to: { format: 'S16_LE', rate: RATE, channels: 2 } });
  t.throws(() => plain.steer(1.0001), { name: 'TypeError', code: 'E_INVALID_ARG', message: 'steer() needs a converter created with steerable: true' });
  const c = steerable();
  for (const bad of [1.2, 0.8, Number.NaN, Infinity]) {
    t.throws(() => c.steer(bad), { name: 'TypeError', code: 'E_INVALID_ARG', message: /^steer\(\) takes source frames per output frame within 10 % of 1\.0+$/ }, `steer(${bad})`);
  }
  c.flush();
  t.throws(() => c.steer(1), { name: 'TypeError', code: 'E_CONVERTER_FLUSHED', message: 'steer() after flush(): a converter serves one stream' });
});
