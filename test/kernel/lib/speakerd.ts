// speakerd as the kernel suite runs it: the built service, a real client over
// real sockets, and the log lines it writes.
import type { ServerProcess } from '../../service/server-process';
import path from 'node:path';
import { projectRoot } from '../../../src/project-root';
import { wav } from '../../service/wav-fixtures';

export { logsWith, nthLogLine, shippedMemoryEnv, startServer, waitForStatus, type ServerProcess } from '../../service/server-process';

export interface Answer {
  status: number;
  body: Record<string, any>;
  /** performance.now() when the answer arrived. */
  at: number;
}

/** POSTs S16_LE stereo 48 kHz frames as a WAV file; resolves with the answer and when it came. */
export async function playWav(server: ServerProcess, frames: Buffer, rate = 48_000, channels = 2): Promise<Answer> {
  const body = wav({ formatTag: 1, channels, rate, bitsPerSample: 16 }, frames);
  const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body });
  return { status: response.status, body: (await response.json()) as Record<string, any>, at: performance.now() };
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const GC_ON_SIGNAL = path.join(projectRoot, 'test/kernel/lib/gc-on-signal.cjs');
const GC_DONE = /^gc-on-signal: /gm;

/** `nodeOptions` with lib/gc-on-signal.cjs preloaded, for collectGarbage(). */
export function withGcOnSignal(nodeOptions: string): string {
  return `${nodeOptions} --require ${GC_ON_SIGNAL}`;
}

/** Runs a full garbage collection in a server started withGcOnSignal, and resolves once it is done. */
export async function collectGarbage(server: ServerProcess): Promise<void> {
  const done = (server.stderr().match(GC_DONE) ?? []).length + 1;
  server.child.kill('SIGUSR2');
  while ((server.stderr().match(GC_DONE) ?? []).length < done) await new Promise((resolve) => setTimeout(resolve, 5));
}

/**
 * Polls `url` every `everyMs` until it answers `status`; resolves with when
 * it did. Every request leaves garbage in speakerd's heap: a loop that
 * measures memory polls less often than one that measures latency.
 */
export async function statusSeen(url: string, status: number, everyMs = 5): Promise<number> {
  for (;;) {
    const response = await fetch(url).catch(() => undefined);
    if (response) await response.arrayBuffer();
    if (response?.status === status) return performance.now();
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Resolves once the one stream playing has played at least `frames` frames. */
export async function streamPlayed(server: ServerProcess, frames: number, everyMs = 10): Promise<void> {
  for (;;) {
    const { body } = await getJson(`${server.url}/v1/streams`);
    const stream = (body.streams as { framesPlayed: number }[])[0];
    if (stream && stream.framesPlayed >= frames) return;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export const ms = (value: number) => `${value.toFixed(0)} ms`;
