// speakerd as the kernel suite runs it: the built service, a real client over
// real sockets, and the log lines it writes.
import type { ServerProcess } from '../../service/server-process';
import { wav } from '../../service/wav-fixtures';

export { collectGarbage, logsWith, nthLogLine, shippedMemoryEnv, startServer, waitForStatus, withGcOnSignal, type ServerProcess } from '../../service/server-process';

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
