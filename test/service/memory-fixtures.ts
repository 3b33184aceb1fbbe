// What the memory tests share: a server's RSS, and bodies generated as they are sent.
import { readFileSync } from 'node:fs';
import { s16Pattern } from '../pcm-fixtures';
import { nthLogLine, type ServerProcess } from './server-process';

/** The debug line speakerd logs when, with nothing left to play, it has given its free heap back (src/engine/engine.ts). */
export const HEAP_RETURNED = /^idle: free heap returned to the kernel$/;

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/**
 * The server's RSS once it is idle again: read after its `idleMoments`-th
 * heap return, so that what malloc holds free is not counted. The server
 * must log at debug.
 */
export async function idleRssMiB(server: ServerProcess, idleMoments: number): Promise<number> {
  await nthLogLine(server, HEAP_RETURNED, idleMoments);
  return rssMiB(server.child.pid!);
}

/** A body of `bytes` bytes: `head` once, then `chunk` again and again, generated as it is sent. */
export function generatedBody(bytes: number, chunk: Uint8Array = new Uint8Array(s16Pattern(16384, 2)), head?: Uint8Array): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (head && sent === 0) {
        sent = head.length;
        return controller.enqueue(head);
      }
      if (sent >= bytes) return controller.close();
      const piece = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
}
