// What happened, for GET /v1/events (design §2b): every event gets an id and
// stays in a bounded buffer, so that a client that reconnects with
// Last-Event-ID gets what it missed. Ids are "<boot>-<sequence>": the boot
// part changes with each process, so that an id from before a restart is
// recognised as such instead of being read as a sequence number of this one.

export interface ServiceEvent {
  id: string;
  type: string;
  /** ISO time of the event. */
  at: string;
  data: Record<string, unknown>;
}

/** What a reconnecting client gets: the events after its last, and whether some were lost. */
export interface Replay {
  events: ServiceEvent[];
  /** Its last id is no longer in the buffer (or from another process): events may have been missed. */
  gap: boolean;
}

export class EventLog {
  readonly #capacity: number;
  readonly #boot: string;
  readonly #buffer: ServiceEvent[] = [];
  readonly #listeners = new Set<(event: ServiceEvent) => void>();
  #sequence = 0;

  constructor(capacity: number, boot = Date.now().toString(36)) {
    this.#capacity = capacity;
    this.#boot = boot;
  }

  publish(type: string, data: Record<string, unknown>): ServiceEvent {
    const event: ServiceEvent = { id: `${this.#boot}-${++this.#sequence}`, type, at: new Date().toISOString(), data };
    this.#buffer.push(event);
    if (this.#buffer.length > this.#capacity) this.#buffer.shift();
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** The events after `lastId` that are still held. */
  since(lastId: string): Replay {
    const match = /^([0-9a-z]+)-(\d+)$/.exec(lastId);
    const oldest = this.#buffer[0] ? this.#sequenceOf(this.#buffer[0]) : this.#sequence + 1;
    if (!match || match[1] !== this.#boot) return { events: [...this.#buffer], gap: true };
    const last = Number(match[2]);
    if (last > this.#sequence) return { events: [...this.#buffer], gap: true };
    return { events: this.#buffer.filter((event) => this.#sequenceOf(event) > last), gap: last + 1 < oldest };
  }

  /** Calls `listener` with each event from now on; returns the unsubscribe. */
  subscribe(listener: (event: ServiceEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get subscribers(): number {
    return this.#listeners.size;
  }

  #sequenceOf(event: ServiceEvent): number {
    return Number(event.id.slice(this.#boot.length + 1));
  }
}
