import t from 'tap';
import { constants } from 'node:os';
import { openClockSink, openDevice, type NativeError } from '../../src/engine/native';

const { ENOENT } = constants.errno;

t.test('opening hw:0,0 on a machine without a sound card rejects with E_ALSA_OPEN and ENOENT', async (t) => {
  const error = (await openDevice({ pcm: 'hw:0,0' }).then(
    () => t.fail('opened a card that does not exist'),
    (e: unknown) => e,
  )) as NativeError;
  t.type(error, Error);
  t.equal(error.code, 'E_ALSA_OPEN');
  t.equal(error.errno, ENOENT);
  t.equal(error.message, 'cannot open PCM "hw:0,0": No such file or directory');
  t.same(error.alsaMessages, ['snd_config_get_card: Cannot get card index for 0'], "alsa-lib's own words come along");
});

t.test('a PCM name that no configuration defines rejects with E_ALSA_OPEN', async (t) => {
  await t.rejects(openDevice({ pcm: 'nosuchpcm' }), {
    code: 'E_ALSA_OPEN',
    errno: ENOENT,
    message: 'cannot open PCM "nosuchpcm": No such file or directory',
    alsaMessages: ['snd_pcm_open_noupdate: Unknown PCM nosuchpcm'],
  });
});

t.test('malformed configuration text rejects with E_ALSA_CONFIG and the parser line', async (t) => {
  const error = (await openDevice({ pcm: 'out', alsaConfig: 'pcm.out { type file slave.pcm null' }).catch((e: unknown) => e)) as NativeError;
  t.equal(error.code, 'E_ALSA_CONFIG');
  t.equal(error.errno, 22, 'EINVAL');
  t.equal(error.message, 'cannot parse the ALSA configuration text: Invalid argument');
  t.same(error.alsaMessages, ['_snd_config_load_with_include: _toplevel_:1:34:Unexpected char']);
});

t.test("alsa-lib's error printing during playback reaches the device's log event, not stderr", async (t) => {
  // The file plugin opens its file lazily and only complains when writing.
  const device = await openDevice({
    pcm: 'out',
    underrun: 'wait',
    alsaConfig: 'pcm.out { type file slave.pcm null file "/nonexistent/dir/x.raw" format raw }',
  });
  const lines: string[] = [];
  device.on('log', (line: string) => lines.push(line));
  const stream = device.createStream();
  stream.write(Buffer.alloc(1024 * 4));
  stream.end();
  t.equal((await stream.finished()).frames, 1024);
  await device.close();
  t.ok(
    lines.includes('alsa-lib: snd_pcm_file_write_bytes: /nonexistent/dir/x.raw write failed, file data may be corrupt (Bad file descriptor)'),
    `the complaint was logged: ${JSON.stringify(lines)}`,
  );
});

t.test('bad arguments throw a TypeError with a code before reaching alsa-lib', async (t) => {
  const cases: [string, () => unknown, RegExp][] = [
    ['no options', () => openDevice(undefined as never), /needs an options object/],
    ['empty pcm', () => openDevice({ pcm: '' }), /pcm must be a non-empty ALSA PCM name/],
    ['non-string config', () => openDevice({ pcm: 'x', alsaConfig: 42 as never }), /alsaConfig must be ALSA configuration text/],
    ['unknown format', () => openDevice({ pcm: 'x', format: 'MP3' as never }), /format must be one of S16_LE, S24_LE, S24_3LE, S32_LE, FLOAT_LE; got MP3/],
    ['zero channels', () => openDevice({ pcm: 'x', channels: 0 }), /channels must be an integer from 1 to 32; got 0/],
    ['fractional rate', () => openClockSink({ rate: 44100.5 }), /rate must be an integer from 8000 to 384000; got 44100.5/],
    ['one period', () => openClockSink({ periods: 1 }), /periods must be an integer from 2 to 64; got 1/],
    ['bad policy', () => openClockSink({ underrun: 'drop' as never }), /underrun must be "silence" or "wait"; got drop/],
    ['non-boolean realtime', () => openClockSink({ realtime: 'yes' as never }), /realtime must be a boolean; got yes/],
  ];
  for (const [name, call, message] of cases) {
    t.throws(call, { name: 'TypeError', code: 'E_INVALID_ARG', message }, name);
  }
});

t.test('stream misuse throws typed errors and leaves the device usable', async (t) => {
  const device = await openClockSink({ idleMs: 0 });
  t.throws(() => device.createStream({ gain: -1 }), { name: 'TypeError', code: 'E_INVALID_ARG', message: /gain must be a finite number >= 0; got -1/ });
  t.throws(() => device.createStream({ gain: Number.NaN }), { code: 'E_INVALID_ARG' });
  t.throws(() => device.createStream({ ringFrames: 0 }), { code: 'E_INVALID_ARG', message: /ringFrames must be an integer/ });
  const stream = device.createStream();
  t.throws(() => stream.write(Buffer.alloc(6)), {
    name: 'TypeError',
    code: 'E_PARTIAL_FRAME',
    message: 'write() takes whole frames of 4 bytes; got 6 bytes',
  });
  t.throws(() => stream.write('text' as never), { name: 'TypeError', code: 'E_INVALID_ARG', message: 'write() takes a Buffer or Uint8Array' });
  t.throws(() => stream.setGain(Number.POSITIVE_INFINITY), { code: 'E_INVALID_ARG' });
  t.equal(stream.write(Buffer.alloc(400)), 100, 'the stream still takes frames');
  stream.abort();
  t.equal((await stream.finished()).outcome, 'aborted');
  await device.close();
  t.throws(() => device.createStream(), { name: 'TypeError', code: 'E_DEVICE_CLOSED', message: 'the device is closed' });
  t.equal(stream.write(Buffer.alloc(4)), 0, 'a stream of a closed device takes nothing');
  await device.close(); // closing twice is harmless
  t.equal(device.stats().open, false);
});

t.test('closing a device ends its open streams with outcome "closed"', async (t) => {
  const device = await openClockSink({ idleMs: 0 });
  const stream = device.createStream();
  stream.write(Buffer.alloc(48000 * 4));
  const done = stream.finished();
  await device.close();
  const result = await done;
  t.equal(result.outcome, 'closed');
  t.ok(result.frames < 48000, `only part of the second played before close (${result.frames} frames)`);
});
