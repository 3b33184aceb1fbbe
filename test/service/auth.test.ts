// AUTH_TOKEN is decided by the matched route: every spelling of a /v1 path
// the router accepts, and every /v1 route registered now or later, refuses
// a request without the token.
import t from 'tap';
import { startInProcessApp } from './in-process-app';
import { rawRequest } from './raw-http';

const TOKEN = 's3cret-token';

async function startApp(t: Parameters<Parameters<typeof t.test>[1]>[0]) {
  return startInProcessApp(t, { AUTH_TOKEN: TOKEN, MAX_STREAMS: '2' });
}

function request(method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: x', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body || method === 'POST') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

const UNAUTHORIZED = { status: 401, json: { error: { code: 'E_UNAUTHORIZED', message: 'this endpoint needs an Authorization: Bearer header', hint: 'send Authorization: Bearer <AUTH_TOKEN>' } } };

t.test('every spelling of a /v1 path that reaches the route needs the token', async (t) => {
  const { port } = await startApp(t);
  const spellings = ['/v1/device', '/%761/device', '/v%31/device', '/%76%31/%64evice', 'http://x/v1/device', 'http://x/%76%31/device', '/v1/device?', '/v1/device#x'];
  for (const target of spellings) {
    const open = await rawRequest(port, request('GET', target));
    t.match(open, UNAUTHORIZED, `GET ${target} without a token: 401`);
    // The same spelling with the token reaches the handler: the spelling
    // was a live route, so the 401 above was the route's decision.
    const passed = await rawRequest(port, request('GET', target, { authorization: `Bearer ${TOKEN}` }));
    t.equal(passed?.status, 200, `GET ${target} with the token: 200`);
    t.equal(passed?.json?.mode, 'headless', `GET ${target} with the token: the device route answered`);
  }
  for (const target of ['/%761/streams', '/v%31/streams', '/%76%31/%73treams', 'http://x/v1/streams']) {
    const post = await rawRequest(port, request('POST', target, { 'content-type': 'audio/wav' }, 'RIFF'));
    t.match(post, UNAUTHORIZED, `POST ${target} without a token: 401, nothing played`);
    const list = await rawRequest(port, request('GET', target));
    t.match(list, UNAUTHORIZED, `GET ${target} without a token: 401`);
  }
  const stop = await rawRequest(port, request('DELETE', '/%76%31/streams/abc'));
  t.match(stop, UNAUTHORIZED, 'DELETE by an encoded path without a token: 401');
});

t.test('a wrong or malformed Authorization header is refused with its own message', async (t) => {
  const { port } = await startApp(t);
  const cases: [string, string][] = [
    [`Bearer ${TOKEN}x`, 'the bearer token is wrong'],
    [`Bearer  ${TOKEN.slice(1)}`, 'the bearer token is wrong'],
    [`Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, 'this endpoint needs an Authorization: Bearer header'],
    [`Bearer ${TOKEN} extra`, 'this endpoint needs an Authorization: Bearer header'],
    ['Bearer', 'this endpoint needs an Authorization: Bearer header'],
  ];
  for (const [header, message] of cases) {
    const answer = await rawRequest(port, request('GET', '/v1/streams', { authorization: header }));
    t.match(answer, { status: 401, json: { error: { code: 'E_UNAUTHORIZED', message } } }, `Authorization: ${header}`);
  }
  const ok = await rawRequest(port, request('GET', '/v1/streams', { authorization: `bearer   ${TOKEN}  ` }));
  t.match(ok, { status: 200, json: { streams: [] } }, 'the scheme is case-insensitive and spaces around the token are allowed');
});

t.test('every /v1 route registered refuses a request without the token; the open routes stay open', async (t) => {
  const { app, port } = await startApp(t);
  const api = app.routeTable.filter((route) => route.url.startsWith('/v1'));
  t.ok(api.length >= 5, `the /v1 routes: ${api.map((r) => `${r.method} ${r.url}`).join(', ')}`);
  for (const route of api) {
    const target = route.url.replace(/:(\w+)/g, 'x');
    const answer = await rawRequest(port, request(route.method, target));
    t.equal(answer?.status, 401, `${route.method} ${route.url}: 401`);
    if (route.method !== 'HEAD') t.equal(answer?.json?.error?.code, 'E_UNAUTHORIZED', `${route.method} ${route.url}: E_UNAUTHORIZED`);
  }
  const open = app.routeTable.filter((route) => !route.url.startsWith('/v1') && route.method === 'GET');
  t.same(open.map((route) => route.url).sort(), ['/healthz', '/livez', '/metrics', '/readyz'], 'only the probes and /metrics are outside the API');
  for (const route of open.filter((r) => r.url !== '/metrics')) {
    t.equal((await rawRequest(port, request('GET', route.url)))?.status, 200, `${route.url} needs no token`);
  }
});
