#!/usr/bin/env node
// speakerd's command line: serve (the default), play a test tone, or diagnose.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runDoctor } from './diagnostics/doctor';
import { healthcheck } from './healthcheck';
import { ConfigError } from './config';
import { telemetryDisabled } from './telemetry/enabled';
import type { Telemetry } from './telemetry/sdk';
import { playTone } from './engine/tone';
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

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
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
  if (command === 'tone') {
    const { pcm, 'alsa-config': alsaConfig, seconds, frequency, rate, underrun } = values;
    return playTone({ pcm, alsaConfig, seconds, frequency, rate, underrun }, (line) => console.log(line));
  }
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
