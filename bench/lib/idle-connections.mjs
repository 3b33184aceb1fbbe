// TCP connections that are opened and then send nothing, as a slowloris
// client or a crowd of stuck peers holds them: each costs the server a file
// descriptor and whatever it keeps per connection. A connection the server
// closes is opened again, so the pressure lasts.
import net from 'node:net';

/** At most one reopen per connection and second: a server that closes at once must not turn this into a connect flood. */
const REOPEN_AFTER_MS = 1000;
/** Opened this many at a time, so the listen backlog does not overflow into SYN retransmits. */
const OPEN_BATCH = 100;

/**
 * Opens `count` idle connections to `url`; resolves once each has connected
 * or failed, with { openNow(), counts(), stop() }. counts(): opened,
 * closedByServer (a connection that had connected and was ended or reset by
 * the server), connectFailures and the error codes seen.
 */
export async function openIdleConnections(url, { count }) {
  const { hostname, port } = new URL(url);
  let stopping = false;
  const counts = { opened: 0, closedByServer: 0, connectFailures: 0, errors: {} };
  const slots = Array.from({ length: count }, () => ({ socket: undefined, connected: false, openedAt: 0 }));

  const open = (slot) =>
    new Promise((settled) => {
      slot.openedAt = Date.now();
      slot.connected = false;
      const socket = net.connect({ host: hostname, port: Number(port) });
      slot.socket = socket;
      socket.on('connect', () => {
        slot.connected = true;
        counts.opened++;
        settled();
      });
      socket.on('error', (error) => {
        const code = error.code ?? error.message;
        counts.errors[code] = (counts.errors[code] ?? 0) + 1;
      });
      socket.on('close', () => {
        settled();
        slot.socket = undefined;
        if (stopping) return;
        if (slot.connected) counts.closedByServer++;
        else counts.connectFailures++;
        slot.connected = false;
        setTimeout(() => stopping || open(slot), Math.max(0, slot.openedAt + REOPEN_AFTER_MS - Date.now()));
      });
    });

  for (let i = 0; i < count; i += OPEN_BATCH) await Promise.all(slots.slice(i, i + OPEN_BATCH).map(open));

  return {
    openNow: () => slots.filter((slot) => slot.connected).length,
    counts: () => ({ ...counts, errors: { ...counts.errors } }),
    stop() {
      stopping = true;
      for (const slot of slots) slot.socket?.destroy();
    },
  };
}
