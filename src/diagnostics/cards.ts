// The sound cards the kernel knows (/proc/asound/cards). A container sees the
// host's list even when it got none of the device nodes, which tells "no card
// on this node" apart from "the card is not mounted into the pod".
import { readFileSync } from 'node:fs';
import { errorCode, guardProbe, type ProbeResult } from './finding';

export interface SoundCard {
  index: number;
  /** The short id that names the card in ALSA (hw:CARD=<id>). */
  id: string;
  driver: string;
  name: string;
  longName: string;
}

export interface CardsReport {
  file: string;
  /** False when the file does not exist: the kernel has no sound support, or /proc/asound is hidden. */
  present: boolean;
  cards: SoundCard[];
}

// Each card is two lines:
//  0 [PCH            ]: HDA-Intel - HDA Intel PCH
//                       HDA Intel PCH at 0xf7f10000 irq 33
// and a machine without cards has the single line "--- no soundcards ---".
export function parseAsoundCards(text: string): SoundCard[] {
  const cards: SoundCard[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^\s*(\d+)\s+\[([^\]]*)\]:\s*(.*)$/.exec(lines[i]!);
    if (!match) continue;
    const [, index, id, description] = match as unknown as [string, string, string, string];
    const separator = description.indexOf(' - ');
    const next = lines[i + 1];
    const longName = next !== undefined && !/^\s*\d+\s+\[/.test(next) ? next.trim() : '';
    cards.push({
      index: Number(index),
      id: id.trim(),
      driver: separator >= 0 ? description.slice(0, separator).trim() : description.trim(),
      name: separator >= 0 ? description.slice(separator + 3).trim() : description.trim(),
      longName,
    });
  }
  return cards;
}

/** Reads the card list. Never throws; a missing file is a finding of its own, not a failure. */
export function probeCards(options: { asoundCards: string }): ProbeResult<CardsReport> {
  return guardProbe<CardsReport>('cards', () => {
    let text: string;
    try {
      text = readFileSync(options.asoundCards, 'utf8');
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      return { data: { file: options.asoundCards, present: false, cards: [] }, findings: [] };
    }
    return { data: { file: options.asoundCards, present: true, cards: parseAsoundCards(text) }, findings: [] };
  });
}
