// `speakerd tone`: plays a sine on a PCM, or on the clock sink when none is
// named, and says how it went: the quickest check that a card plays, run by
// hand on a node. Here, not in cli.ts, because it drives the addon's
// objects, which nothing outside engine/ touches.
import { existsSync, readdirSync } from 'node:fs';
import { alsaConfigDir, alsaLibVersion, openClockSink, openDevice, type Device } from './native';

export interface ToneOptions {
  pcm?: string | undefined;
  alsaConfig?: string | undefined;
  seconds: string;
  frequency: string;
  rate: string;
  underrun: string;
}

function sineS16(seconds: number, frequency: number, rate: number, channels: number): Buffer {
  const frames = Math.round(seconds * rate);
  const out = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    // -6 dBFS: loud enough to hear, far from clipping.
    const sample = Math.round(16383 * Math.sin((2 * Math.PI * frequency * i) / rate));
    for (let c = 0; c < channels; c++) out.writeInt16LE(sample, (i * channels + c) * 2);
  }
  return out;
}

function soundNodes(): string[] {
  return existsSync('/dev/snd') ? readdirSync('/dev/snd').filter((n) => /^pcmC\d+D\d+p$/.test(n)) : [];
}

/** Plays the tone; resolves with the exit code (0 when it played). `print` gets each line of the account. */
export async function playTone(values: ToneOptions, print: (line: string) => void): Promise<number> {
  const seconds = Number(values.seconds);
  const frequency = Number(values.frequency);
  const rate = Number(values.rate);
  const underrun = values.underrun;
  if (underrun !== 'silence' && underrun !== 'wait') throw new Error(`--underrun must be silence or wait; got ${underrun}`);
  if (!(seconds > 0 && seconds <= 3600)) throw new Error(`--seconds must be in (0, 3600]; got ${values.seconds}`);
  if (!(frequency > 0 && frequency < rate / 2)) throw new Error(`--frequency must be in (0, rate/2); got ${values.frequency}`);
  print(`speakerd: alsa-lib ${alsaLibVersion} (static), configuration from ${alsaConfigDir}`);
  let device: Device;
  if (values.pcm) {
    device = await openDevice({ pcm: values.pcm, rate, underrun, ...(values.alsaConfig ? { alsaConfig: values.alsaConfig } : {}) });
  } else {
    const nodes = soundNodes();
    print(nodes.length > 0
      ? `speakerd: /dev/snd has ${nodes.join(', ')}; pass --pcm plughw:0,0 to play on it`
      : 'speakerd: no /dev/snd playback device; playing into the headless clock sink');
    device = await openClockSink({ rate, underrun });
  }
  device.on('log', (line: string) => print(`speakerd: ${line}`));
  device.on('xrun', (count: number) => print(`speakerd: device xrun (${count} so far)`));
  print(`speakerd: device ${JSON.stringify(device.info)}`);
  const stream = device.createStream();
  const started = performance.now();
  await stream.writeAll(sineS16(seconds, frequency, device.info.rate, device.info.channels));
  stream.end();
  const result = await stream.finished();
  const elapsed = (performance.now() - started) / 1000;
  const stats = device.stats();
  await device.close();
  print(
    `speakerd: played ${result.frames} frames (${(result.frames / device.info.rate).toFixed(3)} s of audio) in ${elapsed.toFixed(3)} s;` +
      ` outcome ${result.outcome}, underruns ${result.underruns}, device xruns ${stats.xruns},` +
      ` first frame ${((result.firstCommitNs - result.firstWriteNs) / 1e6).toFixed(3)} ms after the first write,` +
      ` SCHED_FIFO ${stats.realtime ? 'granted' : 'refused'}`,
  );
  return result.outcome === 'played' ? 0 : 1;
}

