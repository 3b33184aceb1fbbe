// Environment variables → a typed, validated configuration (design §3). The
// one config loader: an invalid value is a ConfigError naming the variable,
// and the process exits 2 on it before anything starts.
import { readFileSync } from 'node:fs';
import { SAMPLE_FORMATS, type SampleFormat, type UnderrunPolicy } from './engine/native';

export type AudioMode = 'auto' | 'device' | 'headless';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  logLevel: LogLevel;
  audio: {
    mode: AudioMode;
    device: string;
    /** ALSA configuration text (read from the file when AUDIO_ALSA_CONFIG is a path). */
    alsaConfig: string | undefined;
    rate: number;
    channels: number;
    format: SampleFormat;
    periodFrames: number;
    periods: number;
    sndDir: string;
    underrun: UnderrunPolicy;
    idleMs: number;
    /** How long an open may take before it is given up as stuck (E_ALSA_OPEN_TIMEOUT). */
    openTimeoutMs: number;
    /** Reopen backoff after a device is lost or refuses to open: doubles from min to max, jittered. */
    reopenMinMs: number;
    reopenMaxMs: number;
    /** A device lost this long without a reopen fails /livez, so that a restart brings the node's current device nodes; 0: never. */
    lostRestartS: number;
  };
  maxStreams: number;
  maxStreamSeconds: number;
  streamIdleTimeoutMs: number;
  authToken: string | undefined;
  shutdownGraceMs: number;
}

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, value: string, problem: string) {
    super(`${variable}=${JSON.stringify(value)}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, value, `must be a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!allowed.includes(value as T)) throw new ConfigError(name, value, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

// Inline text, or the path of a file holding it: a value that starts with "/"
// is a path, since ALSA configuration text never does.
function alsaConfig(env: Env): string | undefined {
  const value = env.AUDIO_ALSA_CONFIG;
  if (value === undefined || value.trim() === '') return undefined;
  if (!value.startsWith('/')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (error) {
    throw new ConfigError('AUDIO_ALSA_CONFIG', value, `cannot read the file: ${(error as Error).message}`);
  }
}

export function loadConfig(env: Env = process.env): Config {
  const config: Config = {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: text(env, 'HOST', '0.0.0.0'),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    audio: {
      mode: oneOf(env, 'AUDIO_MODE', 'auto', ['auto', 'device', 'headless']),
      device: text(env, 'AUDIO_DEVICE', 'plughw:0,0'),
      alsaConfig: alsaConfig(env),
      rate: integer(env, 'AUDIO_RATE', 48000, 8000, 384000),
      channels: integer(env, 'AUDIO_CHANNELS', 2, 1, 32),
      format: oneOf(env, 'AUDIO_FORMAT', 'S16_LE', SAMPLE_FORMATS),
      periodFrames: integer(env, 'AUDIO_PERIOD_FRAMES', 1024, 16, 1 << 20),
      periods: integer(env, 'AUDIO_PERIODS', 4, 2, 64),
      sndDir: text(env, 'AUDIO_SND_DIR', '/dev/snd'),
      underrun: oneOf(env, 'AUDIO_UNDERRUN', 'silence', ['silence', 'wait']),
      idleMs: integer(env, 'AUDIO_IDLE_MS', 5000, 0, 86_400_000),
      openTimeoutMs: integer(env, 'AUDIO_OPEN_TIMEOUT_MS', 10_000, 100, 600_000),
      reopenMinMs: integer(env, 'AUDIO_REOPEN_MIN_MS', 500, 10, 600_000),
      reopenMaxMs: integer(env, 'AUDIO_REOPEN_MAX_MS', 30_000, 10, 3_600_000),
      lostRestartS: integer(env, 'AUDIO_LOST_RESTART_S', 60, 0, 86_400),
    },
    maxStreams: integer(env, 'MAX_STREAMS', 8, 1, 64),
    maxStreamSeconds: integer(env, 'MAX_STREAM_SECONDS', 3600, 1, 7 * 86_400),
    streamIdleTimeoutMs: integer(env, 'STREAM_IDLE_TIMEOUT_MS', 10_000, 100, 3_600_000),
    authToken: env.AUTH_TOKEN === undefined || env.AUTH_TOKEN === '' ? undefined : env.AUTH_TOKEN,
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
  };
  if (config.audio.reopenMaxMs < config.audio.reopenMinMs) {
    throw new ConfigError('AUDIO_REOPEN_MAX_MS', String(config.audio.reopenMaxMs), `must not be below AUDIO_REOPEN_MIN_MS=${config.audio.reopenMinMs}`);
  }
  return config;
}
