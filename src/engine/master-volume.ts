// The master volume (GET/PUT /v1/volume, design §2b). On a card it is the
// card's own mixer element (hardware-volume.ts: AUDIO_MIXER_ELEMENT, or the
// first of Master, PCM, Speaker), which keeps the full resolution of the
// DAC. Without one (headless, a file PCM, a card without such an element or
// without dB figures) it is the playback thread's software master gain. A
// mute on an element without a switch is the software gain at zero, the
// element's level kept. The level survives device reopens: each device
// opened is given it. Until a level is asked for (AUDIO_VOLUME_DB, or a
// PUT), a card's element keeps the level it has: speakerd starting must not
// turn the node's speakers up to full.
import type { Logger } from 'pino';
import { failure } from '../error-table';
import type { DeviceSupervisor } from './device-supervisor';
import type { EventLog } from './event-log';
import { openHardwareVolume, type HardwareVolume } from './hardware-volume';
import type { Device, NativeError } from './native';

/** The software master volume's range, dB: it only attenuates (a gain above 0 dB would clip the mix). */
export const SOFTWARE_MIN_DB = -120;
export const SOFTWARE_MAX_DB = 0;

export interface VolumeState {
  db: number;
  muted: boolean;
  /** Where it is applied: the card's mixer element, or the software mixer. */
  control: 'hardware' | 'software';
  /** The mixer element and card for `hardware`; null for `software`. */
  element: string | null;
  card: number | null;
  minDb: number;
  maxDb: number;
  /** Why the software mixer is used on a card; null otherwise. */
  reason: string | null;
}

export interface VolumeChange {
  db?: unknown;
  muted?: unknown;
}

export class MasterVolume {
  readonly #supervisor: DeviceSupervisor;
  readonly #element: string | undefined;
  readonly #events: EventLog;
  readonly #log: Logger;
  #db: number;
  /** No level was asked for yet: a card's element keeps its own. */
  #adoptCardLevel: boolean;
  #muted = false;
  #device: Device | undefined;
  #hardware: { volume: HardwareVolume; minDb: number; maxDb: number; hasSwitch: boolean } | undefined;
  #reason: string | null = null;
  /** Settles once the device last opened has its volume: what a PUT waits for before it applies. */
  #ready: Promise<void> = Promise.resolve();

  constructor(supervisor: DeviceSupervisor, settings: { volumeDb: number | undefined; mixerElement: string | undefined }, events: EventLog, log: Logger) {
    this.#supervisor = supervisor;
    this.#element = settings.mixerElement;
    this.#db = settings.volumeDb ?? 0;
    this.#adoptCardLevel = settings.volumeDb === undefined;
    this.#events = events;
    this.#log = log;
    supervisor.on('opened', (device) => {
      this.#ready = this.#ready.then(() => this.#attach(device));
    });
  }

  state(): VolumeState {
    const hardware = this.#hardware;
    return {
      db: this.#db,
      muted: this.#muted,
      control: hardware ? 'hardware' : 'software',
      element: hardware ? hardware.volume.element : null,
      card: hardware ? hardware.volume.card : null,
      minDb: hardware ? hardware.minDb : SOFTWARE_MIN_DB,
      maxDb: hardware ? hardware.maxDb : SOFTWARE_MAX_DB,
      reason: this.#reason,
    };
  }

  /** PUT /v1/volume: 400 for a body that asks for nothing or is out of range; the state as applied. */
  async set(change: VolumeChange): Promise<VolumeState> {
    const { db, muted } = this.#checked(change);
    await this.#ready;
    if (db !== undefined) this.#db = db;
    if (muted !== undefined) this.#muted = muted;
    // From here the level is speakerd's, given to every device opened.
    this.#adoptCardLevel = false;
    try {
      await this.#apply();
    } catch (error) {
      // The card went away (or its driver refused): the next device opened gets the level.
      const cause = error as NativeError;
      throw failure('VOLUME_NOT_APPLIED', { cause: `${cause.message} (${cause.code})` });
    }
    const state = this.state();
    this.#events.publish('volume', { db: state.db, muted: state.muted, control: state.control });
    return state;
  }

  #checked(change: VolumeChange): { db?: number; muted?: boolean } {
    if (typeof change !== 'object' || change === null || Array.isArray(change)) throw failure('INVALID_VOLUME', { reason: 'the body must be a JSON object' });
    const unknown = Object.keys(change).filter((key) => key !== 'db' && key !== 'muted');
    if (unknown.length > 0) throw failure('INVALID_VOLUME', { reason: `unknown field ${JSON.stringify(unknown[0])}: the volume takes db and muted` });
    const { db, muted } = change;
    if (db === undefined && muted === undefined) throw failure('INVALID_VOLUME', { reason: 'the body asks for no change: send db, muted or both' });
    const { minDb, maxDb } = this.state();
    if (db !== undefined && (typeof db !== 'number' || !Number.isFinite(db) || db < minDb || db > maxDb)) {
      throw failure('INVALID_VOLUME', { reason: `db must be a number from ${minDb} to ${maxDb} (the ${this.#hardware ? `card's ${this.#hardware.volume.element} element` : 'software mixer'}); got ${JSON.stringify(db)}` });
    }
    if (muted !== undefined && typeof muted !== 'boolean') throw failure('INVALID_VOLUME', { reason: `muted must be true or false; got ${JSON.stringify(muted)}` });
    return { ...(db !== undefined ? { db: db as number } : {}), ...(muted !== undefined ? { muted: muted as boolean } : {}) };
  }

  // A device just opened: its card's element if it has a usable one, else
  // the software mixer; then the current level on it.
  async #attach(device: Device): Promise<void> {
    this.#device = device;
    this.#hardware = undefined;
    this.#reason = null;
    const card = device.info.card;
    if (card !== null && this.#supervisor.mode === 'device') {
      try {
        const volume = await openHardwareVolume(card, this.#element);
        const state = await volume.state();
        this.#hardware = { volume, minDb: state.minDb, maxDb: state.maxDb, hasSwitch: state.hasSwitch };
        if (this.#adoptCardLevel && state.db !== null) {
          this.#db = state.db;
          if (state.hasSwitch) this.#muted = state.muted;
        }
        // A level the element cannot take (set before, on another card) is brought into its range.
        this.#db = Math.min(state.maxDb, Math.max(state.minDb, this.#db));
      } catch (error) {
        const cause = error as NativeError;
        this.#reason = `card ${card}: ${cause.message} (${cause.code}); the software mixer applies the volume`;
        this.#log.warn({ card, code: cause.code, err: error }, 'no hardware volume: using the software mixer');
      }
    }
    try {
      await this.#apply();
    } catch (error) {
      this.#log.warn({ err: error }, 'the master volume could not be applied to the device just opened');
    }
  }

  async #apply(): Promise<void> {
    const hardware = this.#hardware;
    let softwareGain: number;
    if (hardware) {
      const muteBySwitch = hardware.hasSwitch;
      // Nothing asked yet: the card's level stays as it is, untouched.
      if (!this.#adoptCardLevel) {
        const applied = await hardware.volume.set({ db: this.#db, ...(muteBySwitch ? { muted: this.#muted } : {}) });
        if (applied.db !== null) this.#db = applied.db;
      }
      softwareGain = this.#muted && !muteBySwitch ? 0 : 1;
    } else {
      softwareGain = this.#muted ? 0 : 10 ** (this.#db / 20);
    }
    this.#supervisor.masterGain = softwareGain;
    this.#device?.setMasterGain(softwareGain);
  }
}
