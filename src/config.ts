// Environment variables → a typed, validated configuration (design §3). The
// one config loader: an invalid value is a ConfigError naming the variable,
// and the process exits 2 on it before anything starts.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { MAX_CLOCK_PPM, SAMPLE_FORMATS, type AudioMode, type AudioSettings } from './engine/audio-settings';
import { MAX_DEVICE_CHANNELS, MAX_RATE, MIN_DEVICE_RATE } from './formats/audio-format';

export type { AudioMode };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  /** A port that answers the kubelet's probes alone (http/probe-listener.ts); undefined: none. */
  probePort: number | undefined;
  host: string;
  logLevel: LogLevel;
  audio: AudioSettings;
  maxStreams: number;
  /** Streams waiting in queues at most (?queue=). */
  maxQueued: number;
  maxStreamSeconds: number;
  /** How far ahead a stream's ?at= may be, in seconds (design §2c). */
  maxAtAheadS: number;
  /** Wall-clock time a stream may take, however its audio advances. */
  maxStreamWallSeconds: number;
  streamIdleTimeoutMs: number;
  /** Open connections at most; at the cap, the oldest idle one makes room. */
  maxConnections: number;
  /** A request's headers must be complete within this, or its connection is closed. */
  headersTimeoutMs: number;
  authToken: string | undefined;
  shutdownGraceMs: number;
  /** POST /v1/broadcast: who the peers are, how far ahead they start, when one has fallen behind. */
  broadcast: { peers: { host: string; port: number }[] | undefined; peersDns: string; leadMs: number; stallMs: number };
}

const SHOWN_VALUE_CHARS = 60;

// A whole ALSA configuration file would bury the problem: long values are
// cut, and say how long they were.
function shownValue(value: string): string {
  if (value.length <= SHOWN_VALUE_CHARS + 20) return JSON.stringify(value);
  return `${JSON.stringify(`${value.slice(0, SHOWN_VALUE_CHARS)}…`)} (${value.length} characters)`;
}

export class ConfigError extends Error {
  readonly variable: string;
  /** `secret`: the value never appears in the message (a log line or a CI transcript would keep it). */
  constructor(variable: string, value: string, problem: string, { secret = false } = {}) {
    const shown = secret ? ` (not shown: ${[...value].length} characters)` : `=${shownValue(value)}`;
    super(`${variable}${shown}: ${problem}`);
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

// A decimal number such as -20 or 3.5, within [min, max].
function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const number = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(number) || number < min || number > max) {
    throw new ConfigError(name, value, `must be a decimal number from ${min} to ${max}`);
  }
  return number;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

function optionalPort(env: Env, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  return integer(env, name, 0, 0, 65535);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!allowed.includes(value as T)) throw new ConfigError(name, value, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

// An address literal, or a name a resolver can look up (RFC 1123 labels).
// A name whose last label is all digits is refused (RFC 3696 §2): it is a
// mistyped address such as 300.1.1.1, which getaddrinfo would otherwise
// send to DNS or read as a number.
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function isHostName(value: string): boolean {
  const labels = value.split('.');
  return value.length <= 253 && labels.every((label) => HOST_LABEL.test(label)) && !/^\d+$/.test(labels.at(-1)!);
}

function host(env: Env): string {
  const value = text(env, 'HOST', '0.0.0.0');
  if (isIP(value) === 0 && !isHostName(value)) {
    throw new ConfigError('HOST', value, 'must be an IPv4 or IPv6 address (0.0.0.0 or :: for every interface) or a host name of letters, digits, hyphens and dots');
  }
  return value;
}

const CHARACTER_NAMES: Record<string, string> = { ' ': 'a space', '\t': 'a tab', '\n': 'a newline', '\r': 'a carriage return' };

function characterKind(character: string): string {
  const code = character.codePointAt(0)!;
  if (CHARACTER_NAMES[character]) return CHARACTER_NAMES[character];
  if (code < 0x20 || code === 0x7f) return 'a control character';
  return /\s/u.test(character) ? 'a Unicode space' : 'a non-ASCII character';
}

// Where the token breaks the rules and with what kind of character, never
// the token: it is a secret. Surrounding whitespace gets its own words,
// since it is the usual slip and no client can send it (HTTP strips it
// from header values).
function authTokenProblem(token: string): string | undefined {
  const characters = [...token];
  const first = characters[0]!;
  const last = characters.at(-1)!;
  if (/\s/u.test(first)) return `starts with ${characterKind(first)}: no client can send a token with leading whitespace; remove it`;
  if (/\s/u.test(last)) {
    const echo = last === '\n' ? ' (a Secret made with `echo` rather than `echo -n` ends with a newline)' : '';
    return `ends with ${characterKind(last)} at character ${characters.length}: no client can send a token with trailing whitespace; remove it${echo}`;
  }
  const at = characters.findIndex((c) => c < '\x21' || c > '\x7e');
  if (at === -1) return undefined;
  return `character ${at + 1} is ${characterKind(characters[at]!)}: a bearer token is printable ASCII (0x21–0x7E), without spaces`;
}

// Empty means no authentication; anything else must be a token a client can send.
function authToken(env: Env): string | undefined {
  const value = env.AUTH_TOKEN;
  if (value === undefined || value === '') return undefined;
  const problem = authTokenProblem(value);
  if (problem) throw new ConfigError('AUTH_TOKEN', value, problem, { secret: true });
  return value;
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

// PEERS: host:port entries separated by commas ([v6]:port for IPv6).
function peerList(env: Env): { host: string; port: number }[] | undefined {
  const value = optional(env, 'PEERS');
  if (value === undefined) return undefined;
  return value.split(',').map((entry) => {
    const match = /^\s*(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):(\d{1,5})\s*$/.exec(entry);
    const host = match?.[1] ?? match?.[2];
    const port = Number(match?.[3]);
    if (!match || !host || port < 1 || port > 65535 || (isIP(host) === 0 && !isHostName(host))) {
      throw new ConfigError('PEERS', value, `each entry must be host:port (an address or host name, and a port from 1 to 65535); ${JSON.stringify(entry.trim())} is not`);
    }
    return { host, port };
  });
}

export function loadConfig(env: Env = process.env): Config {
  const config: Config = {
    port: integer(env, 'PORT', 8080, 0, 65535),
    probePort: optionalPort(env, 'PROBE_PORT'),
    host: host(env),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    audio: {
      mode: oneOf(env, 'AUDIO_MODE', 'auto', ['auto', 'device', 'headless']),
      device: text(env, 'AUDIO_DEVICE', 'plughw:0,0'),
      alsaConfig: alsaConfig(env),
      rate: integer(env, 'AUDIO_RATE', 48000, MIN_DEVICE_RATE, MAX_RATE),
      channels: integer(env, 'AUDIO_CHANNELS', 2, 1, MAX_DEVICE_CHANNELS),
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
      duckDb: decimal(env, 'AUDIO_DUCK_DB', -20, -120, 0),
      duckRampMs: integer(env, 'AUDIO_DUCK_RAMP_MS', 50, 0, 10_000),
      fadeMs: integer(env, 'AUDIO_FADE_MS', 20, 0, 10_000),
      mixerElement: optional(env, 'AUDIO_MIXER_ELEMENT'),
      volumeDb: optional(env, 'AUDIO_VOLUME_DB') === undefined ? undefined : decimal(env, 'AUDIO_VOLUME_DB', 0, -120, 0),
      clockPpm: decimal(env, 'AUDIO_CLOCK_PPM', 0, -MAX_CLOCK_PPM, MAX_CLOCK_PPM),
      clockTimeline: optional(env, 'AUDIO_CLOCK_TIMELINE'),
    },
    maxStreams: integer(env, 'MAX_STREAMS', 8, 1, 64),
    maxQueued: integer(env, 'MAX_QUEUED', 32, 0, 64),
    maxStreamSeconds: integer(env, 'MAX_STREAM_SECONDS', 3600, 1, 7 * 86_400),
    maxAtAheadS: integer(env, 'MAX_AT_AHEAD_S', 60, 1, 3600),
    maxStreamWallSeconds: 0,
    streamIdleTimeoutMs: integer(env, 'STREAM_IDLE_TIMEOUT_MS', 10_000, 100, 3_600_000),
    maxConnections: integer(env, 'MAX_CONNECTIONS', 4096, 16, 65_536),
    headersTimeoutMs: integer(env, 'HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    authToken: authToken(env),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    broadcast: {
      peers: peerList(env),
      peersDns: text(env, 'PEERS_DNS', 'speakerd-peers'),
      leadMs: integer(env, 'BROADCAST_LEAD_MS', 500, 0, 60_000),
      stallMs: integer(env, 'BROADCAST_STALL_MS', 2000, 100, 600_000),
    },
  };
  // A stream sent at the rate it plays takes its length plus the start-up
  // latency; a minute's slack lets a slow network catch up.
  config.maxStreamWallSeconds = integer(env, 'MAX_STREAM_WALL_SECONDS', config.maxStreamSeconds + 60, 1, 8 * 86_400);
  if (config.probePort !== undefined && config.probePort !== 0 && config.probePort === config.port) {
    throw new ConfigError('PROBE_PORT', String(config.probePort), `must differ from PORT=${config.port}: the probes need a port of their own, or leave PROBE_PORT unset to probe on PORT`);
  }
  if (config.audio.reopenMaxMs < config.audio.reopenMinMs) {
    throw new ConfigError('AUDIO_REOPEN_MAX_MS', String(config.audio.reopenMaxMs), `must not be below AUDIO_REOPEN_MIN_MS=${config.audio.reopenMinMs}`);
  }
  return config;
}
