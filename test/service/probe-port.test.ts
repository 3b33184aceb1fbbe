// PROBE_PORT: a listener of the probes' own, so that a crowd of connections
// on PORT cannot make them late (http/probe-listener.ts). It answers the
// three probes as PORT does, refuses every other route by the route matched
// (whatever the spelling, with or without a token), and goes down with the
// service.
import t from 'tap';
import { startInProcessApp } from './in-process-app';
import { connect, firstResponse, rawRequest } from './raw-http';
import { startServer, untilLogged } from './server-process';

const TOKEN = 'probe-test-token';

async function startApp(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  const { app, engine, port } = await startInProcessApp(t, { AUTH_TOKEN: TOKEN, MAX_STREAMS: '2' });
  const probeUrl = await app.probes.listen(0, '127.0.0.1');
  return { app, engine, port, probePort: Number(new URL(probeUrl).port), probeUrl };
}

function request(method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: x', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body || method === 'POST' || method === 'PUT' || method === 'PATCH') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

function refusal(method: string, target: string) {
  return {
    status: 404,
    json: {
      error: {
        code: 'E_NOT_FOUND',
        message: `the probe port (PROBE_PORT) answers only /healthz, /livez, /readyz, not ${method} ${target}`,
        hint: 'send API requests and scrapes to PORT',
      },
    },
  };
}

t.test('the probe port answers the three probes exactly as PORT does', async (t) => {
  const { port, probePort, probeUrl } = await startApp(t);
  t.match(probeUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.not(probePort, port);
  for (const path of ['/healthz', '/livez', '/readyz']) {
    const onProbePort = await rawRequest(probePort, request('GET', path));
    const onPort = await rawRequest(port, request('GET', path));
    t.equal(onProbePort?.status, 200, `GET ${path} on the probe port: 200`);
    t.same(onProbePort?.json, onPort?.json, `GET ${path}: the same answer on both ports`);
    const head = await rawRequest(probePort, request('HEAD', path));
    t.equal(head?.status, 200, `HEAD ${path} on the probe port: 200`);
  }
});

t.test('every other route is refused on the probe port, whatever the spelling and with the token', async (t) => {
  const { app, engine, probePort } = await startApp(t);
  const probes = new Set(['/healthz', '/livez', '/readyz']);
  const others = app.routeTable.filter((route) => !probes.has(route.url));
  t.ok(others.some((route) => route.url === '/metrics') && others.some((route) => route.url.startsWith('/v1/')), 'the table holds /metrics and the /v1 routes');
  for (const { method, url } of others) {
    const target = url.replace(/:(\w+)/g, 'x');
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }]) {
      const answer = await rawRequest(probePort, request(method, target, { ...headers, 'content-type': 'audio/wav' }, method === 'POST' ? 'RIFF' : ''));
      // A HEAD answer has no body to carry the error.
      const expected = method === 'HEAD' ? { status: 404 } : refusal(method, target);
      t.match(answer, expected, `${method} ${target}${'authorization' in headers ? ' with the token' : ''}: 404 on the probe port`);
    }
  }
  // Spellings the router decodes to a real route are refused by the route
  // matched, not let through by a string that does not look like it.
  for (const target of ['/v1/%64evice', '/%76%31/device', 'http://x/v1/device', '/metrics?x', '/%6detrics']) {
    const answer = await rawRequest(probePort, request('GET', target, { authorization: `Bearer ${TOKEN}` }));
    t.match(answer, refusal('GET', target), `GET ${target}: refused`);
  }
  const unknown = await rawRequest(probePort, request('GET', '/nothing-here'));
  t.match(unknown, refusal('GET', '/nothing-here'), 'an unknown path: the same 404');
  t.equal(engine.streams.size, 0, 'no POST became a stream');
  // Spellings of a probe route are probes.
  const encoded = await rawRequest(probePort, request('GET', '/%6civez'));
  t.same(encoded?.json, { status: 'alive' }, 'GET /%6civez is /livez');
});

t.test('malformed HTTP on the probe port gets the documented error shape', async (t) => {
  const { probePort } = await startApp(t);
  const answer = await rawRequest(probePort, 'GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
  t.equal(answer?.status, 400);
  t.equal(answer?.json?.error?.code, 'E_BAD_HTTP');
  t.match(answer?.json?.error?.message, /^the request is not valid HTTP\/1\.1: /);
  const noHost = await rawRequest(probePort, 'GET /livez HTTP/1.1\r\nConnection: close\r\n\r\n');
  t.match(noHost, { status: 400, json: { error: { code: 'E_BAD_HTTP', message: 'the request is not valid HTTP/1.1: it has no Host header' } } });
});

t.test('closing the probe listener ends its connections; PORT is not touched', async (t) => {
  const { app, port, probePort } = await startApp(t);
  const idle = await connect(probePort);
  const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  await app.probes.close();
  await closed;
  t.pass('an idle probe connection is closed with the listener');
  const refused = await connect(probePort).then(
    () => 'connected',
    (error: NodeJS.ErrnoException) => error.code,
  );
  t.equal(refused, 'ECONNREFUSED', 'the probe port no longer listens');
  const stillServed = await rawRequest(port, request('GET', '/livez'));
  t.equal(stillServed?.status, 200, 'PORT still answers');
});

t.test('the service: PROBE_PORT listens, answers through SIGTERM\'s grace, and goes down with it', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'headless', PROBE_PORT: '0', SHUTDOWN_GRACE_MS: '5000' });
  // PORT listens first (startServer resolves then), the probe port next.
  const line = await untilLogged(server, (entry) => typeof entry.msg === 'string' && entry.msg.startsWith('probes (only) listening at '));
  const probeUrl = /^probes \(only\) listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(String(line.msg))?.[1];
  t.ok(probeUrl, `the log names the probe port: ${line.msg}`);
  const probePort = Number(new URL(probeUrl!).port);
  t.equal((await rawRequest(probePort, request('GET', '/livez')))?.status, 200);

  // A stream keeps the grace running; meanwhile the probe port says why the
  // pod is no longer ready.
  const stream = await connect(Number(new URL(server.url).port));
  stream.write('POST /v1/streams HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nTransfer-Encoding: chunked\r\n\r\n');
  const answered = firstResponse(stream);
  for (;;) {
    const list = await rawRequest(Number(new URL(server.url).port), request('GET', '/v1/streams'));
    if (Array.isArray(list?.json?.streams) && list.json.streams.length === 1) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  server.child.kill('SIGTERM');
  let draining;
  for (;;) {
    draining = await rawRequest(probePort, request('GET', '/readyz'));
    if (draining?.status === 503) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.same(draining?.json, { status: 'draining', error: { code: 'E_SHUTTING_DOWN', message: 'speakerd is shutting down and takes no new streams', hint: 'nothing to do: the pod is being replaced' } }, '/readyz on the probe port during the grace');
  t.equal((await rawRequest(probePort, request('GET', '/livez')))?.status, 200, '/livez still 200 during the grace');
  const [code] = await server.exited;
  t.equal(code, 0, 'exits 0');
  t.equal((await answered)?.status, 503, 'the stream cut at the end of the grace is answered');
  stream.destroy();
});

t.test('PROBE_PORT must differ from PORT, and a taken one exits 2 naming it', async (t) => {
  const same = await startServer(t, { AUDIO_MODE: 'headless', PORT: '18080', PROBE_PORT: '18080' }).then(
    () => undefined,
    (error: Error) => error.message,
  );
  t.match(same, /PROBE_PORT="18080".*must differ from PORT=18080/s, 'refused at start');
  const first = await startServer(t, { AUDIO_MODE: 'headless' });
  const taken = new URL(first.url).port;
  // PORT listens first, so the service starts, then exits on the probe port.
  const clash = await startServer(t, { AUDIO_MODE: 'headless', PROBE_PORT: taken });
  const [code] = await clash.exited;
  t.equal(code, 2, 'a taken PROBE_PORT: exit 2');
  t.match(clash.stderr(), `speakerd: cannot listen on 127.0.0.1:${taken}: listen EADDRINUSE: address already in use 127.0.0.1:${taken}; another process already listens on PROBE_PORT=${taken}: stop it, or choose another PROBE_PORT`, 'named on stderr');
});
