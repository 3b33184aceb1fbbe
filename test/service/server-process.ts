// Runs the real service (node dist/cli.js serve) as a child process on a free
// port, and collects its JSON log lines. Tests talk to it over real sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import YAML from 'yaml';
import { projectRoot } from '../../src/project-root';
import { nodeAsShipped } from '../node-as-shipped';

// By the project root, not a fixed number of `..`: the kernel suite runs
// these helpers from a bundle elsewhere in the tree.
const cli = path.join(projectRoot, 'dist/cli.js');

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  logs: Record<string, unknown>[];
  /** What it wrote on stderr so far (a crash's report). */
  stderr(): string;
  /** Resolves with the exit code and signal. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  stop(): Promise<[number | null, NodeJS.Signals | null]>;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Starts the service with `env` on top of a minimal environment; resolves once it listens. */
export async function startServer(t: Teardown, env: Record<string, string>): Promise<ServerProcess> {
  // The same V8 flags as `npm start` and the container (see docs/decisions.md).
  const [command, ...args] = nodeAsShipped(['--max-semi-space-size=1', cli, 'serve'], env.NODE_OPTIONS);
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // 'close', not 'exit': by then its stdout is read to the end, so the log holds every line it wrote.
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        const match = /^Server listening at (http:\/\/(?:127\.\d+\.\d+\.\d+|\[::1\]):\d+)$/.exec(String(entry.msg));
        if (match) resolve(match[1]!);
      } catch {
        logs.push({ msg: line });
      }
    });
    exited.then(([code, signal]) => reject(new Error(`server exited (${code ?? signal}) before listening: ${stderr}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  t.teardown(stop);
  return { url, child, logs, stderr: () => stderr, exited, stop };
}

/** Polls `url` until it answers `status`, or fails after timeoutMs. */
export async function waitForStatus(url: string, status: number, timeoutMs = 10_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url).catch(() => undefined);
    if (response?.status === status) return response;
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${response?.status})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The V8 heap and semi-space caps and the malloc arena count the manifest
 * gives the container (k8s/base/configmap.yaml), for tests that bound the
 * service's RSS: read from there, so that they measure what is shipped. A
 * semi-space left at V8's default grows with the young generation's
 * survivors, over minutes, by megabytes that an RSS bound then counts.
 */
export function shippedMemoryEnv(): { NODE_OPTIONS: string; MALLOC_ARENA_MAX: string } {
  const configMap = YAML.parse(readFileSync(path.join(projectRoot, 'k8s', 'base', 'configmap.yaml'), 'utf8'));
  return { NODE_OPTIONS: configMap.data.NODE_OPTIONS, MALLOC_ARENA_MAX: configMap.data.MALLOC_ARENA_MAX };
}

const GC_ON_SIGNAL = path.join(projectRoot, 'test/service/gc-on-signal.cjs');
const GC_DONE = /^gc-on-signal: /gm;

/** `nodeOptions` with gc-on-signal.cjs preloaded, for collectGarbage(). */
export function withGcOnSignal(nodeOptions: string): string {
  return `${nodeOptions} --require ${GC_ON_SIGNAL}`;
}

/**
 * Runs a full garbage collection in a server started withGcOnSignal, and
 * resolves once it is done. Without the preload, SIGUSR2 ends the server:
 * that fails here, at once, rather than at the test's timeout.
 */
export async function collectGarbage(server: ServerProcess): Promise<void> {
  const done = (server.stderr().match(GC_DONE) ?? []).length + 1;
  server.child.kill('SIGUSR2');
  while ((server.stderr().match(GC_DONE) ?? []).length < done) {
    if (server.child.stdout!.readableEnded) throw new Error(`speakerd exited (${server.child.exitCode ?? server.child.signalCode}) before its garbage was collected: was it started withGcOnSignal?`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The environment for a device-mode server playing into a file PCM, bit-exact. */
export function fileDeviceEnv(file: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: 'out',
    AUDIO_ALSA_CONFIG: `pcm.out { type file slave.pcm null file "${file}" format raw }`,
    AUDIO_UNDERRUN: 'wait',
    ...extra,
  };
}

export function logsWith(server: ServerProcess, pattern: RegExp): Record<string, unknown>[] {
  return server.logs.filter((entry) => pattern.test(String(entry.msg)));
}

/**
 * Resolves with the `count`-th log line that `match` accepts (1 = the
 * first), however long it takes: the test's timeout bounds it. Lines come
 * down their own pipe, so one written before an HTTP answer may still be
 * read after it.
 */
export async function untilLogged(server: ServerProcess, match: (entry: Record<string, unknown>) => boolean, count = 1): Promise<Record<string, any>> {
  for (;;) {
    const found = server.logs.filter(match)[count - 1];
    if (found) return found;
    if (server.child.stdout!.readableEnded) throw new Error(`speakerd exited (${server.child.exitCode ?? server.child.signalCode}) without logging the line awaited`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves with the `count`-th log line whose message matches `pattern`, and when it was seen. */
export async function nthLogLine(server: ServerProcess, pattern: RegExp, count: number): Promise<{ line: Record<string, unknown>; at: number }> {
  const line = await untilLogged(server, (entry) => pattern.test(String(entry.msg)), count);
  return { line, at: performance.now() };
}
