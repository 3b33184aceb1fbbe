// `speakerd tone` (engine/tone.ts) plays exactly the sine it promises and
// says how it went; bad options are refused before anything is opened.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { playTone } from '../../src/engine/tone';
import { filePcmConfig, scratchDir } from '../pcm-fixtures';

t.test('half a second of 440 Hz into a file PCM: 24,000 stereo frames, the account printed', async (t) => {
  const out = path.join(scratchDir(t), 'tone.raw');
  const lines: string[] = [];
  const code = await playTone({ pcm: 'out', alsaConfig: filePcmConfig('out', out), seconds: '0.5', frequency: '440', rate: '48000', underrun: 'wait' }, (line) => lines.push(line));
  t.equal(code, 0);
  const written = readFileSync(out);
  t.equal(written.length, 24_000 * 4);
  t.equal(written.readInt16LE(0), 0, 'the sine starts at 0');
  t.equal(written.readInt16LE(4), Math.round(16383 * Math.sin((2 * Math.PI * 440) / 48000)), 'frame 1, both channels alike');
  t.equal(written.readInt16LE(6), written.readInt16LE(4));
  t.match(lines[0], /^speakerd: alsa-lib \d+\.\d+\.\d+ \(static\), configuration from /);
  t.match(lines.at(-1), /^speakerd: played 24000 frames \(0\.500 s of audio\) in [\d.]+ s; outcome played, underruns 0, device xruns 0,/);
});

t.test('bad options are refused with what was wrong', async (t) => {
  const base = { seconds: '1', frequency: '440', rate: '48000', underrun: 'silence' };
  const never = () => t.fail('nothing is printed before the options are checked');
  await t.rejects(playTone({ ...base, underrun: 'sometimes' }, never), { message: '--underrun must be silence or wait; got sometimes' });
  await t.rejects(playTone({ ...base, seconds: '0' }, never), { message: '--seconds must be in (0, 3600]; got 0' });
  await t.rejects(playTone({ ...base, frequency: '24000' }, never), { message: '--frequency must be in (0, rate/2); got 24000' });
});
