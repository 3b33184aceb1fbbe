// The card's own volume on a real driver: snd-dummy's mixer (card 1), set
// through src/engine/hardware-volume.ts and read back both through it and
// through alsa-utils' amixer, a separate reader of the same controls.
// snd-dummy's "Master" is a volume of 150 steps of 0.30 dB (-45.00 to 0.00
// dB) with no playback switch; an element with a switch, and one without dB
// information, are user controls added here, as alsa-lib's softvol plugin
// and alsactl add them on real machines. They go with the card when the last
// test unplugs it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { HardwareVolume, openHardwareVolume } from '../../../src/engine/hardware-volume';
import { openDevice, type NativeError } from '../../../src/engine/native';
import { DUMMY, replug, run, unplug } from '../lib/sound-card';

const CARD = 1;
const { ENOENT } = constants.errno;
const dir = mkdtempSync(path.join(tmpdir(), 'speakerd-hwvol-'));

/** What amixer reads of an element of card 1: each playback channel's dB and, if it has one, its playback switch. */
function amixer(element: string): { db: number[]; switches: string[] } {
  const lines = run('amixer', ['-c', String(CARD), 'sget', element]).split('\n');
  const db: number[] = [];
  const switches: string[] = [];
  for (const line of lines) {
    // "  Front Left: 0 [33%] [-30.00dB] Capture [off]": what follows "Capture" is the capture switch.
    const channel = /^ {2}(?:Front Left|Front Right|Mono): (.*)$/.exec(line)?.[1]?.split(' Capture')[0];
    if (channel === undefined || !channel.includes('dB]')) continue;
    db.push(Number(/\[(-?\d+\.\d+)dB\]/.exec(channel)![1]));
    const on = /\[(on|off)\]/.exec(channel);
    if (on) switches.push(on[1]!);
  }
  return { db, switches };
}

function amixerSet(element: string, ...values: string[]): void {
  run('amixer', ['-q', '-c', String(CARD), 'sset', element, '--', ...values]);
}

/** Every field of a rejection, for an exact comparison. */
async function failure(promise: Promise<unknown>): Promise<Partial<NativeError>> {
  const error = (await promise.then(
    () => ({ message: 'resolved' }),
    (e: unknown) => e,
  )) as NativeError;
  return { code: error.code, errno: error.errno, message: error.message, alsaMessages: error.alsaMessages };
}

t.test('a Device on the card reports its index: hw:Dummy,0,0 and a plugin over hw:1,0 are card 1, hw:Loopback,0,0 card 0', async (t) => {
  for (const [pcm, card] of [['hw:Dummy,0,0', 1], ['plughw:1,0', 1], ['hw:Loopback,0,0', 0]] as const) {
    const device = await openDevice({ pcm });
    t.equal(device.info.card, card, pcm);
    await device.close();
  }
});

t.test("snd-dummy's default element is Master: -45 to 0 dB, no playback switch, at the level amixer reads", async (t) => {
  const volume = await openHardwareVolume(CARD);
  t.equal(volume.card, CARD);
  t.equal(volume.cardId, 'Dummy');
  t.equal(volume.element, 'Master');
  const state = await volume.state();
  const seen = amixer('Master');
  t.same(seen.db, [-30, -30], "the driver's initial level, both channels");
  t.strictSame(state, { element: 'Master', db: -30, muted: false, minDb: -45, maxDb: 0, hasSwitch: false });
});

t.test('-12 dB set through the wrapper reads back -12 dB through it and through amixer', async (t) => {
  const opening = performance.now();
  const volume = await openHardwareVolume(CARD, 'Master');
  const setting = performance.now();
  const set = await volume.set({ db: -12 });
  const reading = performance.now();
  t.equal(set.db, -12, 'the state read back after the write');
  t.same(amixer('Master').db, [-12, -12], 'amixer, both channels');
  t.equal((await volume.state()).db, -12, 'a later read');
  const ms = (from: number, to: number) => `${(to - from).toFixed(1)} ms`;
  t.comment(`figures (under TCG): open ${ms(opening, setting)}, set with its read-back ${ms(setting, reading)}`);
});

t.test('a level between two 0.30 dB steps goes to the nearest, a tie to the louder', async (t) => {
  const volume = await openHardwareVolume(CARD, 'Master');
  for (const [asked, got] of [[-12.1, -12], [-12.2, -12.3], [-12.15, -12], [-0.1, 0], [-44.9, -45]] as const) {
    t.equal((await volume.set({ db: asked })).db, got, `${asked} dB → ${got} dB`);
  }
  t.same(amixer('Master').db, [-45, -45], 'amixer agrees on the last');
});

t.test('levels outside the range are clamped to its ends: -45 dB and 0 dB', async (t) => {
  const volume = await openHardwareVolume(CARD, 'Master');
  t.equal((await volume.set({ db: -100 })).db, -45);
  t.same(amixer('Master').db, [-45, -45]);
  t.equal((await volume.set({ db: 6 })).db, 0);
  t.same(amixer('Master').db, [0, 0]);
  t.equal((await volume.set({ db: -1e300 })).db, -45, 'even a level far past any card');
});

t.test('state() reads what another program set, not what the wrapper last wrote', async (t) => {
  const volume = await openHardwareVolume(CARD, 'Master');
  await volume.set({ db: -12 });
  amixerSet('Master', '-21dB');
  t.equal((await volume.state()).db, -21);
});

t.test('muting an element without a playback switch rejects with E_MIXER_NO_SWITCH and changes nothing', async (t) => {
  const volume = await openHardwareVolume(CARD, 'Master');
  await volume.set({ db: -12 });
  t.strictSame(await failure(volume.set({ db: -3, muted: true })), {
    code: 'E_MIXER_NO_SWITCH',
    errno: 0,
    message: 'mixer element "Master" of card 1 (Dummy) has no playback switch to mute',
    alsaMessages: [],
  });
  t.same(amixer('Master').db, [-12, -12], 'the level is untouched');
  t.strictSame(await volume.set({ db: -6, muted: false }), { element: 'Master', db: -6, muted: false, minDb: -45, maxDb: 0, hasSwitch: false }, 'unmuted is what it is: the level is set');
});

t.test('an element that is not there, or has no playback volume, rejects with E_MIXER_ELEMENT naming those that have one', async (t) => {
  const others = 'its elements with a playback volume: Master, Synth, Line, CD, Mic';
  t.strictSame(await failure(openHardwareVolume(CARD, 'Headphone')), {
    code: 'E_MIXER_ELEMENT',
    errno: 0,
    message: `card 1 (Dummy) has no mixer element "Headphone"; ${others}`,
    alsaMessages: [],
  });
  t.strictSame(await failure(openHardwareVolume(CARD, 'External I/O Box')), {
    code: 'E_MIXER_ELEMENT',
    errno: 0,
    message: `mixer element "External I/O Box" of card 1 (Dummy) has no playback volume; ${others}`,
    alsaMessages: [],
  });
  t.equal((await openHardwareVolume(CARD, 'Synth')).element, 'Synth', 'any element with a volume can be named');
});

t.test('an element with a playback switch: mute turns the switch off, unmute on, as amixer sees it', async (t) => {
  // alsa-lib's softvol plugin adds "Speaker Playback Volume" (-51 to 0 dB
  // in 0.20 dB steps) and, with resolution 2, "Speaker Playback Switch" to
  // card 1 when it is opened: one simple element with a volume and a switch.
  const alsaConfig = [
    'pcm.speaker_volume { type softvol slave.pcm "hw:1,0" control { name "Speaker Playback Volume" card 1 } min_dB -51.0 max_dB 0.0 resolution 256 }',
    'pcm.speaker_switch { type softvol slave.pcm "hw:1,0" control { name "Speaker Playback Switch" card 1 } resolution 2 }',
  ].join('\n');
  for (const pcm of ['speaker_volume', 'speaker_switch']) {
    const device = await openDevice({ pcm, alsaConfig });
    t.equal(device.info.card, CARD, `${pcm}, a plugin over hw:1,0, is on card 1`);
    await device.close();
  }
  t.equal((await openHardwareVolume(CARD)).element, 'Master', 'the default is still Master, the first in the order');
  const volume = await openHardwareVolume(CARD, 'Speaker');
  t.strictSame(await volume.state(), { element: 'Speaker', db: 0, muted: false, minDb: -51, maxDb: 0, hasSwitch: true });

  t.strictSame(await volume.set({ db: -12, muted: true }), { element: 'Speaker', db: -12, muted: true, minDb: -51, maxDb: 0, hasSwitch: true });
  t.same(amixer('Speaker'), { db: [-12, -12], switches: ['off', 'off'] });
  t.strictSame(await volume.set({ muted: false }), { element: 'Speaker', db: -12, muted: false, minDb: -51, maxDb: 0, hasSwitch: true });
  t.same(amixer('Speaker'), { db: [-12, -12], switches: ['on', 'on'] });
  amixerSet('Speaker', 'mute');
  t.equal((await volume.state()).muted, true, 'a mute by another program is seen');
  amixerSet('Speaker', 'unmute');
});

t.test('an element without dB information rejects with E_MIXER_NO_DB', async (t) => {
  // A user control as alsactl restores one: a volume of 0 to 100 with no TLV.
  const state = path.join(dir, 'asound.state');
  writeFileSync(
    state,
    `state.Dummy { control.100 { iface MIXER name 'PCM Playback Volume' value.0 40 value.1 40
       comment { access 'read write user' type INTEGER count 2 range '0 - 100' } } }\n`,
  );
  // --no-init-fallback: the state holds none of the driver's own controls,
  // which alsactl would otherwise "initialize" to its defaults.
  spawnSync('alsactl', ['--no-init-fallback', '-f', state, 'restore', String(CARD)]);
  t.match(run('amixer', ['-c', String(CARD), 'sget', 'PCM']), /Capabilities: pvolume\n/, 'amixer sees a volume...');
  t.notMatch(run('amixer', ['-c', String(CARD), 'sget', 'PCM']), /dB/, '...without dB');
  t.strictSame(await failure(openHardwareVolume(CARD, 'PCM')), {
    code: 'E_MIXER_NO_DB',
    errno: 0,
    message: 'mixer element "PCM" of card 1 (Dummy) has no dB scale (its driver gives no dB information)',
    alsaMessages: [],
  });
});

t.test('another card at the index rejects with E_MIXER_LOST: a volume is bound to the card it was opened on, by its id', async (t) => {
  // As if opened on a card "Loopback" that was card 1 before the dummy took its index.
  const volume = new HardwareVolume({ card: CARD, cardId: 'Loopback', element: 'Master', db: 0, muted: false, minDb: -45, maxDb: 0, hasSwitch: false });
  const before = amixer('Master').db;
  t.strictSame(await failure(volume.set({ db: -40 })), {
    code: 'E_MIXER_LOST',
    errno: 0,
    message: 'card 1 is "Dummy" now, not "Loopback"',
    alsaMessages: [],
  });
  t.same(amixer('Master').db, before, "the other card's level is untouched");
});

t.test('the card unplugged: E_MIXER_LOST while it is gone, E_MIXER_OPEN for a new open, and both work once it is back', { timeout: 120_000 }, async (t) => {
  t.teardown(() => {
    if (!existsSync(`/sys/bus/platform/drivers/${DUMMY.driver}/${DUMMY.device}`)) replug(DUMMY);
  });
  // The supervisor's way: the card's index comes from the open device.
  const device = await openDevice({ pcm: 'hw:Dummy,0,0' });
  const volume: HardwareVolume = await openHardwareVolume(device.info.card!);
  await volume.set({ db: -12 });
  await device.close();

  // The unbind returns only once every handle on the card is closed: it
  // returns while `volume` exists, because the wrapper holds none between calls.
  const { returned } = unplug(DUMMY);
  await returned;
  t.strictSame(await failure(volume.state()), {
    code: 'E_MIXER_LOST',
    errno: ENOENT,
    message: 'cannot open the mixer of card 1 (Dummy): No such file or directory',
    alsaMessages: ['snd_config_get_card: Cannot get card index for 1'],
  });
  t.strictSame(await failure(volume.set({ db: -6 })), await failure(volume.state()), 'a set, the same');
  t.strictSame(await failure(openHardwareVolume(CARD)), {
    code: 'E_MIXER_OPEN',
    errno: ENOENT,
    message: 'cannot open the mixer of card 1: No such file or directory',
    alsaMessages: ['snd_config_get_card: Cannot get card index for 1'],
  });

  replug(DUMMY);
  const reopened = await openDevice({ pcm: 'hw:Dummy,0,0' });
  t.equal(reopened.info.card, CARD, 'the device reopens on card 1');
  await reopened.close();
  // The driver starts again at its initial level.
  t.strictSame(await volume.state(), { element: 'Master', db: -30, muted: false, minDb: -45, maxDb: 0, hasSwitch: false }, 'the old volume works again');
  const again = await openHardwareVolume(CARD);
  t.equal((await again.set({ db: -12 })).db, -12, 'and a new one');
  t.same(amixer('Master').db, [-12, -12]);
  t.notMatch(run('amixer', ['-c', String(CARD), 'scontrols']), /Speaker|PCM/, 'the user controls went with the card');
  amixerSet('Master', '-30dB');
});
