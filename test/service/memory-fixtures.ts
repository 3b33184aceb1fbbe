// What the memory tests share: a server's RSS, and bodies generated as they are sent.
import { readFileSync } from 'node:fs';
import { s16Pattern } from '../pcm-fixtures';

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
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
