// The formats and limits speakerd plays are stated in C++ (audio_limits.h)
// and in TypeScript (formats/audio-format.ts, which the configuration checks
// use without loading the addon): they must be the same, and loading the
// addon checks it.
import t from 'tap';
import { TYPESCRIPT_AUDIO_LIMITS, addon } from '../../src/engine/addon';
import { INPUT_SAMPLE_FORMATS, MAX_DEVICE_CHANNELS, MAX_RATE, MIN_DEVICE_RATE, SAMPLE_FORMATS } from '../../src/formats/audio-format';
import { openClockSink } from '../../src/engine/native';

t.test('the addon exports the same formats and limits as the TypeScript tables', async (t) => {
  t.same((addon as { audioLimits: unknown }).audioLimits, TYPESCRIPT_AUDIO_LIMITS);
  t.same(TYPESCRIPT_AUDIO_LIMITS.inputFormats, INPUT_SAMPLE_FORMATS);
  t.same(TYPESCRIPT_AUDIO_LIMITS.deviceFormats, SAMPLE_FORMATS);
});

t.test("the clock sink offers exactly the device limits: the edges open, one past them is refused", async (t) => {
  for (const [rate, channels] of [[MIN_DEVICE_RATE, 1], [MAX_RATE, MAX_DEVICE_CHANNELS]] as const) {
    const device = await openClockSink({ rate, channels, periodFrames: 1024 });
    t.same([device.info.rate, device.info.channels], [rate, channels]);
    await device.close();
  }
  t.throws(() => openClockSink({ rate: MAX_RATE + 1 }), { code: 'E_INVALID_ARG', message: `rate must be an integer from ${MIN_DEVICE_RATE} to ${MAX_RATE}; got ${MAX_RATE + 1}` });
  t.throws(() => openClockSink({ channels: MAX_DEVICE_CHANNELS + 1 }), { code: 'E_INVALID_ARG', message: `channels must be an integer from 1 to ${MAX_DEVICE_CHANNELS}; got ${MAX_DEVICE_CHANNELS + 1}` });
});
