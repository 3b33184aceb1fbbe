// A sound card's own volume: one element of the card's hardware mixer, in dB,
// through alsa-lib's simple mixer (native/src/hardware_volume.h). Each call
// opens the card's mixer on a thread of its own and closes it again, so that
// a stuck driver never blocks the event loop and a card can go away (and its
// index be freed) while a HardwareVolume exists. Errors are NativeErrors
// (code, errno, alsaMessages):
//   E_MIXER_OPEN      the card's mixer cannot be opened (no such card, no permission)
//   E_MIXER_ELEMENT   no such element, or it has no playback volume; the message names those that have one
//   E_MIXER_NO_DB     the element has no dB information: no hardware volume in dB on this card
//   E_MIXER_NO_SWITCH set({ muted: true }) on an element without a playback switch; nothing was changed
//   E_MIXER_LOST      the card is gone, or another card has its index now
//   E_MIXER_IO        a read or write of the element failed
import { argumentError, checkInteger } from '../errors';
import { addon } from './addon';

export interface HardwareVolumeState {
  /** The mixer element, e.g. "Master". */
  element: string;
  /**
   * The level in dB (of the loudest channel). Null only when the element sits
   * on a step its driver calls "mute", which has no dB figure: set() never
   * puts it there, another tool can.
   */
  db: number | null;
  /** Every channel's playback switch is off; false for an element without a switch. */
  muted: boolean;
  /** The lowest level in dB (above a "mute" step, if the element has one). */
  minDb: number;
  maxDb: number;
  /** Whether the element has a playback switch; without one, muting is the caller's (E_MIXER_NO_SWITCH). */
  hasSwitch: boolean;
}

export interface VolumeChange {
  /** Clamped to [minDb, maxDb], then put on the nearest step the element has (a tie goes to the louder). */
  db?: number;
  muted?: boolean;
}

interface NativeVolumeState extends HardwareVolumeState {
  card: number;
  cardId: string;
}

interface NativeHardwareVolume {
  openHardwareVolume(card: number, element: string): Promise<NativeVolumeState>;
  readHardwareVolume(card: number, cardId: string, element: string): Promise<NativeVolumeState>;
  setHardwareVolume(card: number, cardId: string, element: string, change: VolumeChange): Promise<NativeVolumeState>;
  defaultMixerElements: string[];
}

const native = addon as NativeHardwareVolume;

/** The elements tried, in this order, when none is named: the first that exists and has a playback volume. */
export const DEFAULT_MIXER_ELEMENTS: readonly string[] = Object.freeze([...native.defaultMixerElements]);

/** alsa-lib's limit on card indexes (SND_MAX_CARDS): "hw:N" takes 0 to 31. */
const MAX_CARD = 31;

function publicState({ element, db, muted, minDb, maxDb, hasSwitch }: NativeVolumeState): HardwareVolumeState {
  return { element, db, muted, minDb, maxDb, hasSwitch };
}

export class HardwareVolume {
  readonly card: number;
  /** The card's id (e.g. "Dummy"): a call that finds another card at this index rejects with E_MIXER_LOST. */
  readonly cardId: string;
  readonly element: string;
  /** Calls reach the card one at a time, in the order they were made. */
  #last: Promise<unknown> = Promise.resolve();

  /** @internal */
  constructor(opened: NativeVolumeState) {
    this.card = opened.card;
    this.cardId = opened.cardId;
    this.element = opened.element;
  }

  /** The element's state as the driver holds it now (another program may have changed it). */
  state(): Promise<HardwareVolumeState> {
    return this.#queue(() => native.readHardwareVolume(this.card, this.cardId, this.element));
  }

  /**
   * Sets the level, the switch, or both, and resolves to the state read back
   * from the driver. A mute is applied before a new level, an unmute after it.
   */
  set(change: VolumeChange): Promise<HardwareVolumeState> {
    if (typeof change !== 'object' || change === null) throw argumentError('set() needs { db?, muted? }');
    const { db, muted } = change;
    if (db === undefined && muted === undefined) throw argumentError('set() needs db, muted or both');
    if (db !== undefined && (typeof db !== 'number' || !Number.isFinite(db))) {
      throw argumentError(`db must be a finite number; got ${String(db)}`);
    }
    if (muted !== undefined && typeof muted !== 'boolean') throw argumentError(`muted must be a boolean; got ${String(muted)}`);
    const checked: VolumeChange = { ...(db === undefined ? {} : { db }), ...(muted === undefined ? {} : { muted }) };
    return this.#queue(() => native.setHardwareVolume(this.card, this.cardId, this.element, checked));
  }

  #queue(call: () => Promise<NativeVolumeState>): Promise<HardwareVolumeState> {
    const result = this.#last.then(call).then(publicState);
    this.#last = result.catch(() => undefined);
    return result;
  }
}

/**
 * Finds the volume element of card `card` (DeviceInfo.card): `element`, or
 * the first of DEFAULT_MIXER_ELEMENTS with a playback volume. It must have a
 * dB scale (E_MIXER_NO_DB otherwise). After the card is lost and the device
 * reopened, open it again with the device's new card index.
 */
export function openHardwareVolume(card: number, element?: string): Promise<HardwareVolume> {
  checkInteger('card', card, 0, MAX_CARD);
  if (element !== undefined && (typeof element !== 'string' || element.length === 0)) {
    throw argumentError(`element must be a non-empty mixer element name or undefined; got ${JSON.stringify(element)}`);
  }
  return native.openHardwareVolume(card, element ?? '').then((opened) => new HardwareVolume(opened));
}
