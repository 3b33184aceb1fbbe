#!/usr/bin/env node
// speakerd's command line: serve (the default), play a test tone, or diagnose.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runDoctor } from './diagnostics/doctor';
import { healthcheck } from './healthcheck';
import { ConfigError } from './config';
import { telemetryDisabled } from './telemetry/enabled';
import type { Telemetry } from './telemetry/sdk';
import { alsaConfigDir, alsaLibVersion, openClockSink, openDevice, type Device } from './engine/native';
import { projectRoot } from './project-root';

const USAGE = `Usage: speakerd [serve|tone] [options]
       speakerd doctor [--json]
       speakerd healthcheck

Commands:
  serve    Serve the HTTP API (the default). Configured by environment
           variables: PORT, PROBE_PORT, HOST, LOG_LEVEL, AUDIO_MODE, AUDIO_DEVICE,
           AUDIO_ALSA_CONFIG, AUDIO_RATE, AUDIO_CHANNELS, AUDIO_FORMAT,
           AUDIO_PERIOD_FRAMES, AUDIO_PERIODS, AUDIO_SND_DIR, AUDIO_UNDERRUN,
           AUDIO_IDLE_MS, AUDIO_OPEN_TIMEOUT_MS, AUDIO_REOPEN_MIN_MS,
           AUDIO_REOPEN_MAX_MS, AUDIO_LOST_RESTART_S, MAX_STREAMS, MAX_STREAM_SECONDS,
           MAX_STREAM_WALL_SECONDS, STREAM_IDLE_TIMEOUT_MS, MAX_CONNECTIONS,
           HEADERS_TIMEOUT_MS, AUTH_TOKEN, SHUTDOWN_GRACE_MS; NODE_NAME and
           POD_NAME label /metrics (see README.md).
  tone     Play a sine tone through the playback engine and report what happened.
  doctor   Check why the configured device plays or not: /dev/snd nodes and
           their permissions, the PCM's open error, seccomp, capabilities,
           real-time scheduling, the memory limit and the cards. Reads the
           same variables as serve. Exits 0 when a playable device was found,
           1 when not (headless included), 2 on an invalid configuration.
  healthcheck
           Ask the running service's /healthz on HOST:PROBE_PORT, or on PORT
           without one (the container image's HEALTHCHECK: the image has no
           curl). Exits 0 on 200, else 1.

Options for tone:
  --pcm NAME           ALSA PCM to open (default: the headless clock sink)
  --alsa-config TEXT   ALSA configuration text that can define --pcm
  --seconds S          length of the tone (default 2)
  --frequency HZ       pitch (default 440)
  --rate HZ            device rate (default 48000)
  --underrun POLICY    silence (keep a card fed; default) or wait (unpaced PCMs such as file)

Options for doctor:
  --json               print the whole report as JSON instead of text

Options:
  -h, --help           show this help
`;

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

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

function soundNodes(): string[] {
  return existsSync('/dev/snd') ? readdirSync('/dev/snd').filter((n) => /^pcmC\d+D\d+p$/.test(n)) : [];
}

async function tone(values: { pcm?: string; 'alsa-config'?: string; seconds: string; frequency: string; rate: string; underrun: string }): Promise<number> {
  const seconds = Number(values.seconds);
  const frequency = Number(values.frequency);
  const rate = Number(values.rate);
  const underrun = values.underrun;
  if (underrun !== 'silence' && underrun !== 'wait') throw new Error(`--underrun must be silence or wait; got ${underrun}`);
  if (!(seconds > 0 && seconds <= 3600)) throw new Error(`--seconds must be in (0, 3600]; got ${values.seconds}`);
  if (!(frequency > 0 && frequency < rate / 2)) throw new Error(`--frequency must be in (0, rate/2); got ${values.frequency}`);
  console.log(`speakerd: alsa-lib ${alsaLibVersion} (static), configuration from ${alsaConfigDir}`);
  let device: Device;
  if (values.pcm) {
    device = await openDevice({ pcm: values.pcm, rate, underrun, ...(values['alsa-config'] ? { alsaConfig: values['alsa-config'] } : {}) });
  } else {
    const nodes = soundNodes();
    console.log(nodes.length > 0
      ? `speakerd: /dev/snd has ${nodes.join(', ')}; pass --pcm plughw:0,0 to play on it`
      : 'speakerd: no /dev/snd playback device; playing into the headless clock sink');
    device = await openClockSink({ rate, underrun });
  }
  device.on('log', (line: string) => console.log(`speakerd: ${line}`));
  device.on('xrun', (count: number) => console.log(`speakerd: device xrun (${count} so far)`));
  console.log('speakerd: device', JSON.stringify(device.info));
  const stream = device.createStream();
  const started = performance.now();
  await stream.writeAll(sineS16(seconds, frequency, device.info.rate, device.info.channels));
  stream.end();
  const result = await stream.finished();
  const elapsed = (performance.now() - started) / 1000;
  const stats = device.stats();
  await device.close();
  console.log(
    `speakerd: played ${result.frames} frames (${(result.frames / device.info.rate).toFixed(3)} s of audio) in ${elapsed.toFixed(3)} s;` +
      ` outcome ${result.outcome}, underruns ${result.underruns}, device xruns ${stats.xruns},` +
      ` first frame ${((result.firstCommitNs - result.firstWriteNs) / 1e6).toFixed(3)} ms after the first write,` +
      ` SCHED_FIFO ${stats.realtime ? 'granted' : 'refused'}`,
  );
  return result.outcome === 'played' ? 0 : 1;
}

async function main(argv: string[]): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pcm: { type: 'string' },
      'alsa-config': { type: 'string' },
      seconds: { type: 'string', default: '2' },
      frequency: { type: 'string', default: '440' },
      rate: { type: 'string', default: '48000' },
      underrun: { type: 'string', default: 'silence' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  if (command === 'serve') {
    // OpenTelemetry first, then the service: the HTTP instrumentation must
    // be in place before Fastify makes its server. Only `serve` loads either.
    // In the bundle (scripts/bundle.mjs) these requires stay here, in order.
    let telemetry: Telemetry | undefined;
    try {
      telemetry = telemetryDisabled() ? undefined : (require('./telemetry/sdk') as typeof import('./telemetry/sdk')).startTelemetry(process.env, packageVersion());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      process.stderr.write(`speakerd: invalid configuration: ${error.message}\n`);
      return 2;
    }
    const { serve } = require('./main') as typeof import('./main');
    await serve(process.env, telemetry);
    return undefined;
  }
  if (command === 'tone') return tone(values);
  if (command === 'doctor') {
    const result = await runDoctor(process.env, { json: values.json });
    process.stderr.write(result.errorOutput);
    // Exit once the report is out: an open stuck in the driver would
    // otherwise hold the process until it returns.
    process.stdout.write(result.output, () => process.exit(result.exitCode));
    return undefined;
  }
  if (command === 'healthcheck') {
    const result = await healthcheck();
    (result.healthy ? process.stdout : process.stderr).write(`speakerd: ${result.message}\n`);
    return result.healthy ? 0 : 1;
  }
  process.stderr.write(`speakerd: unknown command "${positionals[0]}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: Error & { code?: string }) => {
    console.error(`speakerd: ${error.code ? `${error.code}: ` : ''}${error.message}`);
    process.exitCode = 1;
  },
);
