import t from 'tap';
import { INPUT_SAMPLE_FORMATS, MAX_CHANNELS, MAX_RATE, MIN_RATE, bytesPerSample, frameBytes } from '../../src/formats/audio-format';

t.test('bytes per sample of every input format', async (t) => {
  t.same(
    Object.fromEntries(INPUT_SAMPLE_FORMATS.map((f) => [f, bytesPerSample(f)])),
    { U8: 1, S16_LE: 2, S16_BE: 2, S24_3LE: 3, S24_3BE: 3, S32_LE: 4, FLOAT_LE: 4, FLOAT64_LE: 8 },
  );
});

t.test('a frame is one sample per channel', async (t) => {
  t.equal(frameBytes({ sampleFormat: 'S24_3BE', rate: 48000, channels: 6 }), 18);
  t.equal(frameBytes({ sampleFormat: 'FLOAT64_LE', rate: 8000, channels: 8 }), 64);
  t.equal(frameBytes({ sampleFormat: 'U8', rate: 8000, channels: 1 }), 1);
});

t.test('the validation limits', async (t) => {
  t.same({ MAX_CHANNELS, MIN_RATE, MAX_RATE }, { MAX_CHANNELS: 8, MIN_RATE: 1000, MAX_RATE: 384000 });
});
