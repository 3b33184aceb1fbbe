// Small helpers for talking to the service like a real client would.

/** A request body the test writes into while the request is in flight (chunked, unknown length). */
export class BodyWriter {
  readonly body: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor() {
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
    });
  }

  write(chunk: Uint8Array): void {
    this.#controller.enqueue(chunk);
  }

  end(): void {
    this.#controller.close();
  }

  fail(): void {
    this.#controller.error(new Error('client gave up'));
  }
}

/** Starts a POST whose body is written later; the response promise settles when the server answers. */
export function postStreaming(url: string, contentType: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const writer = new BodyWriter();
  const response = fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    body: writer.body,
    duplex: 'half',
    ...(signal ? { signal } : {}),
  } as RequestInit);
  return { writer, response };
}

export async function listStreams(base: string): Promise<{ id: string; name: string | null }[]> {
  const response = await fetch(`${base}/v1/streams`);
  return ((await response.json()) as { streams: { id: string; name: string | null }[] }).streams;
}

export async function waitForStreams(base: string, count: number, timeoutMs = 5000): Promise<{ id: string; name: string | null }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const streams = await listStreams(base);
    if (streams.length === count) return streams;
    if (Date.now() > deadline) throw new Error(`expected ${count} streams, have ${streams.length}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A process's open descriptors other than sockets (whose count follows the client's connection pool). */
export function openFds(pid: number): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return !fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false; // closed while we looked
    }
  }).length;
}
