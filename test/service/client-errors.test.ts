// Node reports every connection whose headers are late in the same turn of
// the event loop: the handler answers them a batch per turn, so that a
// crowd timing out together cannot stall the loop (bench/hostile.mjs, idle).
// Real sockets, the real handler.
import t from 'tap';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { answerClientError } from '../../src/http/client-errors';

function timeout(): Error & { code: string } {
  return Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
}

async function socketPairs(t: Parameters<Parameters<typeof t.test>[1]>[0], count: number) {
  const accepted: Socket[] = [];
  const server = net.createServer((socket) => accepted.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const clients: Socket[] = [];
  // What each client receives until its connection closes, listened for
  // from the start: an 'end' with nobody listening is gone.
  const received: Promise<string>[] = [];
  for (let i = 0; i < count; i++) {
    const client = net.connect(port, '127.0.0.1');
    let text = '';
    client.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
    received.push(once(client, 'close').then(() => text));
    await once(client, 'connect');
    clients.push(client);
  }
  while (accepted.length < count) await new Promise((resolve) => setImmediate(resolve));
  t.teardown(() => {
    for (const socket of [...accepted, ...clients]) socket.destroy();
    server.close();
  });
  return { accepted, clients, received };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

t.test('200 timeouts at once are handled 64 per turn; a silent connection is closed, one mid-headers gets its 408', async (t) => {
  const { accepted, clients, received } = await socketPairs(t, 200);
  // Half of the clients had sent part of a head.
  for (let i = 0; i < 200; i += 2) clients[i]!.write('GET /livez HTTP/1.1\r\n');
  for (let i = 0; i < 200; i += 2) {
    while (accepted[i]!.bytesRead === 0) {
      accepted[i]!.read();
      await turn();
    }
  }
  const handle = answerClientError(300);
  for (const socket of accepted) handle(timeout(), socket);
  const handled = () => accepted.filter((socket) => socket.destroyed || socket.writableEnded).length;
  t.equal(handled(), 0, 'nothing is done in the turn that reported them');
  t.ok(accepted.every((socket) => socket.isPaused()), 'but every one stops reading at once');
  const perTurn: number[] = [];
  while (handled() < 200) {
    await turn();
    perTurn.push(handled());
  }
  t.same(perTurn, [64, 128, 192, 200], 'a batch of 64 per turn');
  const answers = await Promise.all(received);
  for (let i = 0; i < 200; i++) {
    if (i % 2 === 1) {
      t.equal(answers[i], '', `silent connection ${i}: closed without an answer`);
    } else {
      t.match(answers[i], /^HTTP\/1\.1 408 Request Timeout\r\n[^]*"code":"E_HEADERS_TIMEOUT"/, `connection ${i} mid-headers: 408 E_HEADERS_TIMEOUT`);
    }
  }
});

t.test('other parser errors are answered in the turn they come', async (t) => {
  const { accepted, received } = await socketPairs(t, 1);
  const handle = answerClientError(300);
  handle(Object.assign(new Error('Parse Error'), { code: 'HPE_INVALID_CHUNK_SIZE', reason: 'Invalid character in chunk size' }), accepted[0]!);
  t.ok(accepted[0]!.writableEnded, 'answered at once');
  t.match(await received[0], /^HTTP\/1\.1 400 Bad Request\r\n[^]*"code":"E_BAD_HTTP","message":"the request is not valid HTTP\/1\.1: Invalid character in chunk size \(HPE_INVALID_CHUNK_SIZE\)"/);
});
