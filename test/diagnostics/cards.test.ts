import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAsoundCards, probeCards } from '../../src/diagnostics/cards';
import { scratchDir } from './fixtures/doctor-process';

const twoCards = [
  ' 0 [PCH            ]: HDA-Intel - HDA Intel PCH',
  '                      HDA Intel PCH at 0xf7f10000 irq 33',
  ' 1 [Device         ]: USB-Audio - USB Audio Device',
  '                      C-Media Electronics Inc. USB Audio Device at usb-0000:00:14.0-2, full speed',
  '',
].join('\n');

t.test('/proc/asound/cards lines become index, id, driver, name and long name', async (t) => {
  t.same(parseAsoundCards(twoCards), [
    { index: 0, id: 'PCH', driver: 'HDA-Intel', name: 'HDA Intel PCH', longName: 'HDA Intel PCH at 0xf7f10000 irq 33' },
    { index: 1, id: 'Device', driver: 'USB-Audio', name: 'USB Audio Device', longName: 'C-Media Electronics Inc. USB Audio Device at usb-0000:00:14.0-2, full speed' },
  ]);
  t.same(parseAsoundCards('--- no soundcards ---\n'), []);
});

t.test('a missing cards file is "not present"; an existing one is read', async (t) => {
  const dir = scratchDir(t, 'cards');
  t.same(probeCards({ asoundCards: path.join(dir, 'cards') }), { data: { file: path.join(dir, 'cards'), present: false, cards: [] }, findings: [] });
  writeFileSync(path.join(dir, 'cards'), twoCards);
  t.same(probeCards({ asoundCards: path.join(dir, 'cards') }).data?.cards.map((card) => card.id), ['PCH', 'Device']);
});
