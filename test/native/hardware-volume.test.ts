// The card's hardware volume, as far as a machine without a sound card can
// show it: which PCMs are on no card, and how a mixer that cannot be reached
// fails. test/kernel/guest/hardware-volume.ts drives a real card's mixer.
import t from 'tap';
import { constants } from 'node:os';
import { addon } from '../../src/engine/addon';
import { DEFAULT_MIXER_ELEMENTS, HardwareVolume, openHardwareVolume } from '../../src/engine/hardware-volume';
import { openClockSink, openDevice, type NativeError } from '../../src/engine/native';

const { ENOENT } = constants.errno;

/** What a rejection says, every field of it, for an exact comparison. */
async function failure(promise: Promise<unknown>): Promise<Partial<NativeError>> {
  const error = (await promise.then(
    () => ({ message: 'resolved' }),
    (e: unknown) => e,
  )) as NativeError;
  return { name: error.name, code: error.code, errno: error.errno, message: error.message, alsaMessages: error.alsaMessages };
}

t.test('a PCM on no sound card reports card null: the null plugin, a file PCM, the clock sink', async (t) => {
  const cases: [string, () => ReturnType<typeof openDevice>][] = [
    ['null from alsa.conf', () => openDevice({ pcm: 'null' })],
    ['a file PCM', () => openDevice({ pcm: 'out', alsaConfig: 'pcm.out { type file slave.pcm null file "/dev/null" format raw }' })],
    ['the clock sink', () => openClockSink()],
  ];
  for (const [name, open] of cases) {
    const device = await open();
    t.equal(device.info.card, null, name);
    await device.close();
  }
});

t.test('the default elements are Master, PCM and Speaker, in that order', async (t) => {
  t.same(DEFAULT_MIXER_ELEMENTS, ['Master', 'PCM', 'Speaker']);
});

t.test("opening the mixer of a card that does not exist rejects with E_MIXER_OPEN, ENOENT and alsa-lib's words", async (t) => {
  t.strictSame(await failure(openHardwareVolume(7)), {
    name: 'Error',
    code: 'E_MIXER_OPEN',
    errno: ENOENT,
    message: 'cannot open the mixer of card 7: No such file or directory',
    alsaMessages: ['snd_config_get_card: Cannot get card index for 7'],
  });
  t.strictSame(await failure(openHardwareVolume(0, 'Master')), {
    name: 'Error',
    code: 'E_MIXER_OPEN',
    errno: ENOENT,
    message: 'cannot open the mixer of card 0: No such file or directory',
    alsaMessages: ['snd_config_get_card: Cannot get card index for 0'],
  });
});

t.test('a volume whose card has gone rejects every call with E_MIXER_LOST, in the order they were made', async (t) => {
  // What openHardwareVolume would have made of card 7 while it was there.
  const volume = new HardwareVolume({ card: 7, cardId: 'Gone', element: 'Master', db: -12, muted: false, minDb: -45, maxDb: 0, hasSwitch: false });
  const lost = {
    name: 'Error',
    code: 'E_MIXER_LOST',
    errno: ENOENT,
    message: 'cannot open the mixer of card 7 (Gone): No such file or directory',
    alsaMessages: ['snd_config_get_card: Cannot get card index for 7'],
  };
  const settled: string[] = [];
  const calls = [
    failure(volume.state().finally(() => settled.push('state'))),
    failure(volume.set({ db: -6 }).finally(() => settled.push('set db'))),
    failure(volume.set({ muted: true }).finally(() => settled.push('set muted'))),
  ];
  for (const error of await Promise.all(calls)) t.strictSame(error, lost);
  t.same(settled, ['state', 'set db', 'set muted']);
});

t.test('bad arguments throw a TypeError with a code before reaching alsa-lib', async (t) => {
  const volume = new HardwareVolume({ card: 7, cardId: 'Gone', element: 'Master', db: 0, muted: false, minDb: -45, maxDb: 0, hasSwitch: false });
  const cases: [string, () => unknown, RegExp][] = [
    ['negative card', () => openHardwareVolume(-1), /^card must be an integer from 0 to 31; got -1$/],
    ['fractional card', () => openHardwareVolume(1.5), /^card must be an integer from 0 to 31; got 1.5$/],
    ['card past alsa-lib\'s limit', () => openHardwareVolume(32), /^card must be an integer from 0 to 31; got 32$/],
    ['card as a string', () => openHardwareVolume('1' as never), /^card must be an integer from 0 to 31; got 1$/],
    ['empty element', () => openHardwareVolume(1, ''), /^element must be a non-empty mixer element name or undefined; got ""$/],
    ['element as a number', () => openHardwareVolume(1, 5 as never), /^element must be a non-empty mixer element name or undefined; got 5$/],
    ['no change', () => volume.set(undefined as never), /^set\(\) needs \{ db\?, muted\? \}$/],
    ['an empty change', () => volume.set({}), /^set\(\) needs db, muted or both$/],
    ['db not a number', () => volume.set({ db: '-6' as never }), /^db must be a finite number; got -6$/],
    ['db NaN', () => volume.set({ db: Number.NaN }), /^db must be a finite number; got NaN$/],
    ['db infinite', () => volume.set({ db: -Infinity }), /^db must be a finite number; got -Infinity$/],
    ['muted not a boolean', () => volume.set({ muted: 1 as never }), /^muted must be a boolean; got 1$/],
  ];
  for (const [name, call, message] of cases) {
    t.throws(call, { name: 'TypeError', code: 'E_INVALID_ARG', message }, name);
  }
});

t.test('the addon refuses what the wrapper would have caught, with a TypeError of its own', async (t) => {
  const native = addon as Record<string, (...args: unknown[]) => unknown>;
  t.throws(() => native.openHardwareVolume!(-1, ''), { name: 'TypeError', code: 'E_INVALID_ARG', message: 'card must be a card index' });
  t.throws(() => native.openHardwareVolume!(0, undefined), { code: 'E_INVALID_ARG', message: 'element must be a string' });
  t.throws(() => native.readHardwareVolume!(0, 'Dummy', 7), { code: 'E_INVALID_ARG', message: 'element must be a string' });
  t.throws(() => native.setHardwareVolume!(0, 'Dummy', 'Master', { db: Number.NaN }), { code: 'E_INVALID_ARG', message: 'db must be a finite number' });
  t.throws(() => native.setHardwareVolume!(0, 'Dummy', 'Master', { muted: 'yes' }), { code: 'E_INVALID_ARG', message: 'muted must be a boolean' });
});
