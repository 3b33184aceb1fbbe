// speakerd through alsa-lib's plugin chain on a real card: plughw:Loopback,0,0
// (plug over hw), with a 44.1 kHz source that speakerd resamples to the
// card's 48 kHz. Through a plugin, alsa-lib's own state check answers
// mmap_begin with ENODEV once the card is unplugged, where a bare hw PCM
// answers 0: both must end in the same loss.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { s16Pattern } from '../../pcm-fixtures';
import { sineSnrDb } from '../../service/sine-fit';
import { LOOPBACK, LoopbackCapture, replug, unplug } from '../lib/sound-card';
import { ms, nthLogLine, playWav, startServer, statusSeen, streamPlayed, waitForStatus } from '../lib/speakerd';

const dir = mkdtempSync(path.join(tmpdir(), 'speakerd-kernel-'));

t.test('snd-aloop on plughw:Loopback,0,0', { timeout: 240_000 }, async (t) => {
  const server = await startServer(t, {
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: 'plughw:Loopback,0,0',
    // A 340 ms buffer: under emulation on a busy host, resampling the body
    // can stall longer than the default 85 ms, and a gap would split the tone.
    AUDIO_PERIODS: '16',
    AUDIO_REOPEN_MIN_MS: '20',
    AUDIO_REOPEN_MAX_MS: '200',
    AUDIO_LOST_RESTART_S: '0',
  });
  await waitForStatus(`${server.url}/readyz`, 200, 120_000);

  await t.test('a 44.1 kHz WAV comes out of the card at 48 kHz: exactly one second, a clean sine of the right frequency', async (t) => {
    const frequency = 997;
    const source = Buffer.alloc(44_100 * 2);
    for (let i = 0; i < 44_100; i++) source.writeInt16LE(Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * frequency * i) / 44_100)), i * 2);
    const capture = await LoopbackCapture.start(path.join(dir, 'sine.raw'));
    const answer = await playWav(server, source, 44_100, 1);
    const recording = await capture.stop();
    t.equal(answer.status, 200);
    t.equal(answer.body.frames, 48_000, 'exactly 48000 frames at 48 kHz');
    t.equal(answer.body.underruns, 0, 'no gap');
    // The capture holds silence around the tone: the tone is where the samples are not 0.
    let first = -1;
    let last = -1;
    for (let i = 0; i < recording.length / 4; i++) {
      if (recording.readInt16LE(i * 4) !== 0) {
        if (first < 0) first = i;
        last = i;
      }
    }
    t.ok(last - first + 1 <= 48_000 && last - first + 1 > 47_900, `the tone spans ${last - first + 1} frames of the capture`);
    // Skip 10 ms at each end, where the resampler's filter meets silence.
    const edge = 480;
    const left = new Float64Array(48_000 - 2 * edge);
    for (let i = 0; i < left.length; i++) left[i] = recording.readInt16LE((first + edge + i) * 4) / 32768;
    const snr = sineSnrDb(left, frequency, 48_000);
    t.ok(snr > 60, `44.1 kHz → 48 kHz through the card: a ${frequency} Hz sine with SNR ${snr.toFixed(1)} dB`);
    t.ok(sineSnrDb(left, frequency * 1.01, 48_000) < 20, 'and not a sine 1 % off');
  });

  await t.test('unplugged mid-stream through the plugin chain: 503 E_DEVICE_LOST, and back after the replug', async (t) => {
    const answer = playWav(server, s16Pattern(6 * 48_000, 2, 31));
    await streamPlayed(server, 48_000);
    const unplugged = performance.now();
    const { returned } = unplug(LOOPBACK);
    const lost = await answer;
    t.equal(lost.status, 503);
    t.equal(lost.body.error.code, 'E_DEVICE_LOST');
    const { line } = await nthLogLine(server, /^audio device lost: /, 1);
    t.match(String(line.msg), /^audio device lost: E_DEVICE_LOST: PCM "plughw:Loopback,0,0": disconnected \(the card was unplugged or its driver unbound\), seen at \w+: No such device; reopening$/);
    const unbindMs = await returned;
    replug(LOOPBACK);
    const bound = performance.now();
    const ready = await statusSeen(`${server.url}/readyz`, 200);
    t.equal((await playWav(server, s16Pattern(4800, 2, 32))).status, 200, 'plays again');
    t.comment(`figures: POST 503 ${ms(lost.at - unplugged)} after the unbind started; unbind returned after ${ms(unbindMs)}; /readyz 200 ${ms(ready - bound)} after the bind`);
  });
});
