// Runs the real service as `npm start` does (node --max-semi-space-size=1
// dist/cli.js serve) on a free loopback port, and keeps its JSON log lines:
// several benches read their figures from them (firstFrameMs, xruns, the
// SCHED_FIFO verdict).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import YAML from 'yaml';

import { spawnTracked, stopTracked } from './children.mjs';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// BENCH_SPEAKERD_CLI: another build's dist/cli.js, to compare two builds on one machine.
export const SPEAKERD_CLI = process.env.BENCH_SPEAKERD_CLI ?? path.join(projectRoot, 'dist', 'cli.js');
/** The peer for start-up and idle memory: Fastify with logger: true and a /healthz route. */
export const HELLO_FASTIFY = path.join(projectRoot, 'bench', 'lib', 'hello-fastify.cjs');
/** The V8 flags of `npm start` and the container image. */
export const NODE_FLAGS = ['--max-semi-space-size=1'];

/**
 * What the DaemonSet's ConfigMap sets for the process itself: the heap cap
 * and glibc's arena count, which shape memory. The benches run the service
 * as it is shipped.
 */
export const SHIPPED_PROCESS_ENV = (() => {
  const configMap = YAML.parse(readFileSync(path.join(projectRoot, 'k8s', 'base', 'configmap.yaml'), 'utf8'));
  return { NODE_OPTIONS: configMap.data.NODE_OPTIONS, MALLOC_ARENA_MAX: configMap.data.MALLOC_ARENA_MAX };
})();

/** What followLog keeps, unparsed, of the log after start-up with `untilListening`: enough for the last few lines. */
const LOG_TAIL_BYTES = 16 * 1024;

/**
 * Parses a child's stdout as JSON log lines into `logs`, and resolves with
 * the URL of Fastify's "Server listening at" line (pino's format, which a
 * bare Fastify with `logger: true` prints too). With `untilListening`, the
 * lines after that one are not parsed, only their last LOG_TAIL_BYTES kept:
 * a flood of requests logs thousands of lines a second, whose parsing and
 * keeping would load the bench process that is measuring.
 * `lastMessages(n)` is the msg of the last n lines either way. With
 * `probePort`, start-up ends at the later line that names the probe port
 * (PROBE_PORT), and `probeUrl` resolves with its URL.
 */
export function followLog(child, logs = [], { untilListening = false, probePort = false } = {}) {
  let stderr = '';
  let tail;
  child.stderr?.setEncoding('utf8').on('data', (text) => (stderr += text));
  const waiters = new Set();
  let probeUrlFound;
  let probeUrlLost = () => {};
  const probeUrl = probePort
    ? new Promise((resolve, reject) => {
        probeUrlFound = resolve;
        probeUrlLost = reject;
      })
    : Promise.resolve(undefined);
  probeUrl.catch(() => {});
  const url = new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    let listening = false;
    lines.on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = { msg: line };
      }
      logs.push(entry);
      const match = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(entry.msg));
      if (match) resolve(match[1]);
      const probes = probePort ? /^probes \(only\) listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(entry.msg)) : null;
      if (probes) probeUrlFound(probes[1]);
      for (const waiter of waiters) waiter(entry);
      const startedNow = probePort ? Boolean(probes) : Boolean(match);
      if (startedNow && untilListening && !listening) {
        listening = true;
        lines.close();
        // Closing paused the pipe: keep draining it, or the child blocks writing its log.
        tail = Buffer.alloc(0);
        child.stdout.on('data', (chunk) => (tail = Buffer.concat([tail, chunk]).subarray(-LOG_TAIL_BYTES)));
        child.stdout.resume();
      }
    });
    const lost = (error) => {
      reject(error);
      probeUrlLost(error);
    };
    child.exited.then(([code, signal]) => lost(new Error(`${child.spawnfile} exited (${signal ?? `code ${code}`}) before listening: ${stderr.trim()}`)), lost);
  });
  url.catch(() => {});
  /** Resolves with the first entry, past or future, that `matches`. */
  const waitForLog = (matches, timeoutMs = 10_000) => {
    const seen = logs.find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching log line within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (entry) => {
        if (!matches(entry)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(entry);
      };
      waiters.add(check);
    });
  };
  const lastMessages = (n) => {
    if (tail === undefined) return logs.slice(-n).map((entry) => entry.msg);
    // The first line of the tail may be cut: only whole JSON lines count.
    return tail.toString('utf8').split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line).msg];
      } catch {
        return [];
      }
    }).slice(-n);
  };
  return { url, probeUrl, logs, waitForLog, lastMessages, stderr: () => stderr };
}

/** Polls `url` until it answers 200; every `everyMs`, as a startup probe would but tighter. */
export async function waitFor200(url, { timeoutMs = 15_000, everyMs = 10 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url).catch(() => undefined);
    if (response?.status === 200) return response.json();
    await response?.body?.cancel();
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${response?.status ?? 'no answer'})`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Starts speakerd with `env` over a minimal environment (plus
 * SHIPPED_PROCESS_ENV) and resolves once
 * /healthz answers 200. `wrapper` is a command line put in front of node
 * (setpriv, prlimit), which must exec it so that `pid` is the server's own.
 * `logsAfterListening: false` leaves the log lines after start-up unparsed
 * (followLog's `untilListening`): `logs` then holds only those before, and
 * assertAlive() still quotes the last few.
 */
export async function startSpeakerd({ env = {}, wrapper = [], logsAfterListening = true } = {}) {
  const node = [process.execPath, ...NODE_FLAGS, SPEAKERD_CLI, 'serve'];
  const [command, ...args] = [...wrapper, ...node];
  const child = spawnTracked(command, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...SHIPPED_PROCESS_ENV, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const probePort = env.PROBE_PORT !== undefined;
  const log = followLog(child, [], { untilListening: !logsAfterListening, probePort });
  try {
    const url = await log.url;
    const probeUrl = await log.probeUrl;
    await waitFor200(`${url}/healthz`);
    const alive = () => child.exitCode === null && child.signalCode === null;
    return {
      url,
      /** The probe port's URL when `env` sets PROBE_PORT. */
      probeUrl,
      pid: child.pid,
      child,
      logs: log.logs,
      waitForLog: log.waitForLog,
      alive,
      /** Throws, with what the server last said, if it has exited. */
      assertAlive() {
        if (alive()) return;
        const last = log.lastMessages(5).join(' | ');
        throw new Error(`speakerd exited (${child.signalCode ?? `code ${child.exitCode}`}); stderr: ${log.stderr().trim().slice(-2000)}; last log lines: ${last}`);
      },
      stop: () => stopTracked(child),
    };
  } catch (error) {
    await stopTracked(child, { signal: 'SIGKILL' });
    throw error;
  }
}

/** Starts a plain Node script (a peer to compare with) as the service is started; resolves once `/healthz` answers 200. */
export async function startPeer(script, { env = {} } = {}) {
  const child = spawnTracked(process.execPath, [...NODE_FLAGS, script], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await followLog(child).url;
    await waitFor200(`${url}/healthz`);
    return { url, pid: child.pid, alive: () => child.exitCode === null && child.signalCode === null, stop: () => stopTracked(child) };
  } catch (error) {
    await stopTracked(child, { signal: 'SIGKILL' });
    throw error;
  }
}

/** The device-mode environment for an unpaced software PCM named and defined by `pcm`. */
export function unpacedDeviceEnv(pcm) {
  return {
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: pcm.name,
    AUDIO_ALSA_CONFIG: pcm.definition,
    AUDIO_UNDERRUN: 'wait',
    // A 1 GiB body is 93 minutes of audio: over the default limit of one hour.
    MAX_STREAM_SECONDS: String(7 * 86_400),
  };
}
