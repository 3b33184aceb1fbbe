import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { checkConfigAgainstAlsa } from '../../src/config-check';
import { scratchDir } from '../pcm-fixtures';
import { nodeAsShipped } from '../node-as-shipped';
import { startInProcessApp } from './in-process-app';

const cli = path.resolve(__dirname, '../../dist/cli.js');

// Without blocking: several run at once, and this process keeps answering
// meanwhile (it may hold the port the service is refused).
async function serveAsync(env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const [command, ...args] = nodeAsShipped([cli, 'serve']);
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stdout, stderr };
}

t.test('every invalid variable exits 2 and names the variable', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: 'http' }, 'PORT="http": must be a whole number from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT="70000": must be a whole number from 0 to 65535'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ AUDIO_MODE: 'speaker' }, 'AUDIO_MODE="speaker": must be one of auto, device, headless'],
    [{ AUDIO_RATE: '44.1k' }, 'AUDIO_RATE="44.1k": must be a whole number from 8000 to 384000'],
    [{ AUDIO_CHANNELS: '0' }, 'AUDIO_CHANNELS="0": must be a whole number from 1 to 32'],
    [{ AUDIO_FORMAT: 'S8' }, 'AUDIO_FORMAT="S8": must be one of S16_LE, S24_LE, S24_3LE, S32_LE, FLOAT_LE'],
    [{ AUDIO_PERIOD_FRAMES: '8' }, 'AUDIO_PERIOD_FRAMES="8": must be a whole number from 16 to 1048576'],
    [{ AUDIO_PERIODS: '1' }, 'AUDIO_PERIODS="1": must be a whole number from 2 to 64'],
    [{ AUDIO_UNDERRUN: 'drop' }, 'AUDIO_UNDERRUN="drop": must be one of silence, wait'],
    [{ AUDIO_IDLE_MS: '-1' }, 'AUDIO_IDLE_MS="-1": must be a whole number from 0 to 86400000'],
    [{ AUDIO_OPEN_TIMEOUT_MS: '50' }, 'AUDIO_OPEN_TIMEOUT_MS="50": must be a whole number from 100 to 600000'],
    [{ AUDIO_REOPEN_MIN_MS: 'soon' }, 'AUDIO_REOPEN_MIN_MS="soon": must be a whole number from 10 to 600000'],
    [{ AUDIO_REOPEN_MAX_MS: '0' }, 'AUDIO_REOPEN_MAX_MS="0": must be a whole number from 10 to 3600000'],
    [{ AUDIO_REOPEN_MIN_MS: '5000', AUDIO_REOPEN_MAX_MS: '1000' }, 'AUDIO_REOPEN_MAX_MS="1000": must not be below AUDIO_REOPEN_MIN_MS=5000'],
    [{ AUDIO_ALSA_CONFIG: '/nonexistent/asound.conf' }, "AUDIO_ALSA_CONFIG=\"/nonexistent/asound.conf\": cannot read the file: ENOENT: no such file or directory, open '/nonexistent/asound.conf'"],
    [{ AUDIO_LOST_RESTART_S: '-1' }, 'AUDIO_LOST_RESTART_S="-1": must be a whole number from 0 to 86400'],
    [{ MAX_STREAMS: '0' }, 'MAX_STREAMS="0": must be a whole number from 1 to 64'],
    [{ MAX_STREAM_SECONDS: 'forever' }, 'MAX_STREAM_SECONDS="forever": must be a whole number from 1 to 604800'],
    [{ STREAM_IDLE_TIMEOUT_MS: '5' }, 'STREAM_IDLE_TIMEOUT_MS="5": must be a whole number from 100 to 3600000'],
    [{ SHUTDOWN_GRACE_MS: '1e4' }, 'SHUTDOWN_GRACE_MS="1e4": must be a whole number from 0 to 3600000'],
    [{ MAX_STREAM_WALL_SECONDS: '0' }, 'MAX_STREAM_WALL_SECONDS="0": must be a whole number from 1 to 691200'],
    [{ MAX_CONNECTIONS: '8' }, 'MAX_CONNECTIONS="8": must be a whole number from 16 to 65536'],
    [{ HEADERS_TIMEOUT_MS: '10s' }, 'HEADERS_TIMEOUT_MS="10s": must be a whole number from 100 to 600000'],
    [{ PROBE_PORT: '70000' }, 'PROBE_PORT="70000": must be a whole number from 0 to 65535'],
    [{ AUDIO_CLOCK_PPM: 'fast' }, 'AUDIO_CLOCK_PPM="fast": must be a decimal number from -100000 to 100000'],
    [{ AUDIO_CLOCK_PPM: '-100000.5' }, 'AUDIO_CLOCK_PPM="-100000.5": must be a decimal number from -100000 to 100000'],
    [{ PEERS: '10.0.0.1' }, 'PEERS="10.0.0.1": each entry must be host:port (an address or host name, and a port from 1 to 65535); "10.0.0.1" is not'],
    [{ PEERS: '10.0.0.1:8080, speaker-2:99999' }, 'PEERS="10.0.0.1:8080, speaker-2:99999": each entry must be host:port (an address or host name, and a port from 1 to 65535); "speaker-2:99999" is not'],
    [{ BROADCAST_LEAD_MS: '-1' }, 'BROADCAST_LEAD_MS="-1": must be a whole number from 0 to 60000'],
    [{ PORT: '9000', PROBE_PORT: '9000' }, 'PROBE_PORT="9000": must differ from PORT=9000: the probes need a port of their own, or leave PROBE_PORT unset to probe on PORT'],
  ];
  // Each case through the checks `serve` runs first (main.ts), in this
  // process: a process start per case would cost a second each.
  for (const [env, message] of cases) {
    const fullEnv = { PATH: process.env.PATH ?? '', PORT: '0', ...env };
    let refusal: unknown;
    try {
      checkConfigAgainstAlsa(loadConfig(fullEnv), fullEnv);
    } catch (error) {
      refusal = error;
    }
    t.type(refusal, ConfigError, `${Object.keys(env).join(' and ')} refused`);
    t.equal((refusal as Error | undefined)?.message, message);
  }
  // And what the CLI makes of a refusal, in real processes: one of each
  // kind (a number, a choice, a rule between two variables, a file).
  const spawned = [cases[0]!, cases[3]!, cases[14]!, cases[15]!];
  const results = await Promise.all(spawned.map(([env]) => serveAsync(env)));
  for (const [j, [env, message]] of spawned.entries()) {
    t.equal(results[j]!.status, 2, `${Object.keys(env).join(' and ')} exits 2`);
    t.equal(results[j]!.stderr, `speakerd: invalid configuration: ${message}\n`);
  }
});

t.test('the limits on clients: defaults, and the wall-clock cap following MAX_STREAM_SECONDS', async (t) => {
  const defaults = loadConfig({});
  t.same(
    { maxConnections: defaults.maxConnections, headersTimeoutMs: defaults.headersTimeoutMs, maxStreamSeconds: defaults.maxStreamSeconds, maxStreamWallSeconds: defaults.maxStreamWallSeconds },
    { maxConnections: 4096, headersTimeoutMs: 10_000, maxStreamSeconds: 3600, maxStreamWallSeconds: 3660 },
  );
  t.equal(loadConfig({ MAX_STREAM_SECONDS: '30' }).maxStreamWallSeconds, 90, 'a minute more than MAX_STREAM_SECONDS by default');
  t.equal(loadConfig({ MAX_STREAM_SECONDS: '30', MAX_STREAM_WALL_SECONDS: '45' }).maxStreamWallSeconds, 45, 'or what the operator sets');
});

t.test('PROBE_PORT: no probe listener unless set; 0 (any free port) is allowed next to PORT=0', async (t) => {
  t.equal(loadConfig({}).probePort, undefined);
  t.equal(loadConfig({ PROBE_PORT: '' }).probePort, undefined, 'empty is unset');
  t.equal(loadConfig({ PROBE_PORT: '8081' }).probePort, 8081);
  t.equal(loadConfig({ PORT: '0', PROBE_PORT: '0' }).probePort, 0);
});

t.test('speakerd --help describes the commands and the variables', async (t) => {
  const [command, ...args] = nodeAsShipped([cli, '--help']);
  const result = spawnSync(command, args, { encoding: 'utf8' });
  t.equal(result.status, 0);
  t.match(result.stdout, /^Usage: speakerd \[serve\|tone\] \[options\]/);
  for (const variable of ['PROBE_PORT', 'AUDIO_MODE', 'AUDIO_ALSA_CONFIG', 'MAX_STREAMS', 'MAX_STREAM_WALL_SECONDS', 'MAX_CONNECTIONS', 'HEADERS_TIMEOUT_MS', 'AUTH_TOKEN', 'SHUTDOWN_GRACE_MS']) {
    t.match(result.stdout, variable);
  }
});

t.test('an unknown command exits 2 with the usage', async (t) => {
  const [command, ...args] = nodeAsShipped([cli, 'dance']);
  const result = spawnSync(command, args, { encoding: 'utf8' });
  t.equal(result.status, 2);
  t.match(result.stderr, /^speakerd: unknown command "dance"\n\nUsage:/);
});

// --- AUDIO_ALSA_CONFIG: checked by alsa-lib before anything starts ----------

const UNTERMINATED = 'speakerd: invalid configuration: AUDIO_ALSA_CONFIG="pcm.x { type file": alsa-lib cannot parse the text at line 1, column 17: _snd_config_load_with_include: _toplevel_:1:17:Unexpected char\n';

t.test("malformed AUDIO_ALSA_CONFIG text exits 2 with alsa-lib's parse error and the line, whatever AUDIO_MODE", async (t) => {
  const results = await Promise.all(['auto', 'device', 'headless'].map((mode) => serveAsync({ AUDIO_MODE: mode, AUDIO_ALSA_CONFIG: 'pcm.x { type file' })));
  for (const [i, mode] of ['auto', 'device', 'headless'].entries()) {
    t.equal(results[i]!.status, 2, `AUDIO_MODE=${mode}: exit 2`);
    t.equal(results[i]!.stderr, UNTERMINATED, `AUDIO_MODE=${mode}: no stack trace, no E_SND_ABSENT`);
    t.equal(results[i]!.stdout, '', `AUDIO_MODE=${mode}: nothing started, so nothing logged`);
  }
});

t.test('a malformed AUDIO_ALSA_CONFIG file exits 2 naming the path, the line and its text', async (t) => {
  const file = path.join(scratchDir(t), 'asound.conf');
  writeFileSync(file, 'pcm.out {\n  type file\n  slave.pcm null = = x\n}\n');
  const result = await serveAsync({ AUDIO_MODE: 'headless', AUDIO_ALSA_CONFIG: file });
  t.equal(result.status, 2);
  t.equal(
    result.stderr,
    `speakerd: invalid configuration: AUDIO_ALSA_CONFIG="${file}": alsa-lib cannot parse the file at line 3 ("  slave.pcm null = = x"), column 20: _snd_config_load_with_include: _toplevel_:3:20:Unexpected char\n`,
  );
});

t.test('long inline AUDIO_ALSA_CONFIG text is shortened in the message; the variable and the line stay', async (t) => {
  const text = `pcm.out {\n  type file\n  slave.pcm null\n  file "/tmp/out.raw"\n  format raw\n}}\n# ${'padding '.repeat(10)}\n`;
  const result = await serveAsync({ AUDIO_MODE: 'headless', AUDIO_ALSA_CONFIG: text });
  t.equal(result.status, 2);
  t.equal(
    result.stderr,
    'speakerd: invalid configuration: AUDIO_ALSA_CONFIG="pcm.out {\\n  type file\\n  slave.pcm null\\n  file \\"/tmp/out.raw\\"…" (160 characters): alsa-lib cannot parse the text at line 6 ("}}"), column 2: _snd_config_load_with_include: :6:2:Unexpected }\n',
  );
});

t.test('text that clashes with alsa.conf is refused at start, not at the first open', async (t) => {
  const result = await serveAsync({ AUDIO_MODE: 'headless', AUDIO_ALSA_CONFIG: 'pcm 5' });
  t.equal(result.status, 2);
  t.equal(result.stderr, 'speakerd: invalid configuration: AUDIO_ALSA_CONFIG="pcm 5": alsa-lib cannot parse the text at line 1, column 5: parse_value: pcm is not an integer; _snd_config_load_with_include: _toplevel_:1:5:Invalid argument\n');
});

t.test('speakerd doctor exits 2 on a malformed AUDIO_ALSA_CONFIG, as serve does', async (t) => {
  const [command, ...args] = nodeAsShipped([cli, 'doctor']);
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env.PATH ?? '', AUDIO_ALSA_CONFIG: 'pcm.x { type file' } });
  t.equal(result.status, 2);
  t.equal(result.stdout, '');
  t.equal(result.stderr, UNTERMINATED);
});

// --- HOST: an address or a host name, and a listen that fails says why ------

const HOST_RULE = 'must be an IPv4 or IPv6 address (0.0.0.0 or :: for every interface) or a host name of letters, digits, hyphens and dots';

t.test('a HOST that is neither an address nor a host name exits 2 naming HOST', async (t) => {
  const hosts = ['not a host!', '300.1.1.1'];
  const results = await Promise.all(hosts.map((host) => serveAsync({ AUDIO_MODE: 'headless', HOST: host })));
  for (const [i, host] of hosts.entries()) {
    t.equal(results[i]!.status, 2, `${host}: exit 2`);
    t.equal(results[i]!.stderr, `speakerd: invalid configuration: HOST=${JSON.stringify(host)}: ${HOST_RULE}\n`);
  }
});

t.test('HOST: the rules of RFC 1123 host names, and no dotted number that is not an address', async (t) => {
  const refused = ['1.2.3', '1234', '-speakerd.local', 'speakerd-.local', 'speakerd..local', 'speakerd.local.', 'spe_akerd.local', 'http://0.0.0.0', '[::1]', '0.0.0.0:8080', `${'a'.repeat(64)}.local`];
  for (const host of refused) {
    t.throws(() => loadConfig({ HOST: host }), { name: 'ConfigError', variable: 'HOST', message: `HOST=${JSON.stringify(host)}: ${HOST_RULE}` }, host);
  }
  const tooLong = `${'a'.repeat(63)}.`.repeat(4) + 'local';
  t.throws(() => loadConfig({ HOST: tooLong }), { message: `HOST="${'a'.repeat(60)}…" (261 characters): ${HOST_RULE}` }, 'over 253 characters, shortened in the message');
  const accepted = ['0.0.0.0', '127.0.0.1', '::', '::1', 'fe80::1', 'localhost', 'speakerd.speakerd.svc.cluster.local', 'node-1', `${'a'.repeat(63)}.example`, '3com.example'];
  for (const host of accepted) t.equal(loadConfig({ HOST: host }).host, host, `${host} is accepted`);
  t.equal(loadConfig({}).host, '0.0.0.0', 'the default');
});

t.test('a port already taken: exit 2, "cannot listen on HOST:PORT" and a hint naming PORT', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => taken.close(resolve)));
  const port = (taken.address() as AddressInfo).port;
  const result = await serveAsync({ AUDIO_MODE: 'headless', HOST: '127.0.0.1', PORT: String(port) });
  t.equal(result.status, 2);
  t.equal(result.stderr, `speakerd: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}; another process already listens on PORT=${port}: stop it, or choose another PORT\n`);
});

t.test('a HOST that is no address of this machine, or does not resolve: exit 2 with a hint naming HOST', async (t) => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address. .invalid
  // never resolves (RFC 6761); with no resolver at all the lookup fails as
  // EAI_AGAIN rather than ENOTFOUND.
  const [foreign, unresolved] = await Promise.all([
    serveAsync({ AUDIO_MODE: 'headless', HOST: '192.0.2.1' }),
    serveAsync({ AUDIO_MODE: 'headless', HOST: 'speakerd.invalid' }),
  ]);
  t.equal(foreign.status, 2);
  t.equal(foreign.stderr, 'speakerd: cannot listen on 192.0.2.1:0: listen EADDRNOTAVAIL: address not available 192.0.2.1; HOST=192.0.2.1 is not an address of this machine (or pod): use 0.0.0.0 or :: for every interface, or one of its own addresses\n');
  t.equal(unresolved.status, 2);
  t.match(unresolved.stderr, /^speakerd: cannot listen on speakerd\.invalid:0: getaddrinfo (ENOTFOUND|EAI_AGAIN) speakerd\.invalid; HOST=speakerd\.invalid (does not resolve to an address|could not be resolved now)/);
});

// --- AUTH_TOKEN: a token a client can send, and never echoed ---------------

t.test('an AUTH_TOKEN no client can send exits 2 naming AUTH_TOKEN, its length and what is wrong where, never the token', async (t) => {
  const cases: [string, string][] = [
    [' hunter2Zq9Xw', 'AUTH_TOKEN (not shown: 13 characters): starts with a space: no client can send a token with leading whitespace; remove it'],
    ['hunter2Zq9Xw\n', 'AUTH_TOKEN (not shown: 13 characters): ends with a newline at character 13: no client can send a token with trailing whitespace; remove it (a Secret made with `echo` rather than `echo -n` ends with a newline)'],
    ['hunter2\u0001Zq9Xw', 'AUTH_TOKEN (not shown: 13 characters): character 8 is a control character: a bearer token is printable ASCII (0x21–0x7E), without spaces'],
  ];
  const results = await Promise.all(cases.map(([token]) => serveAsync({ AUDIO_MODE: 'headless', AUTH_TOKEN: token })));
  for (const [i, [token, message]] of cases.entries()) {
    t.equal(results[i]!.status, 2, `${JSON.stringify(token)}: exit 2`);
    t.equal(results[i]!.stderr, `speakerd: invalid configuration: ${message}\n`);
    t.notMatch(results[i]!.stderr, /hunter|Zq9|9Xw/, 'no part of the token is echoed');
  }
});

t.test('AUTH_TOKEN: printable ASCII without surrounding whitespace, each refusal saying what and where', async (t) => {
  const refused: [string, string][] = [
    ['\thunter2Zq9Xw', 'starts with a tab: no client can send a token with leading whitespace; remove it'],
    ['   ', 'starts with a space: no client can send a token with leading whitespace; remove it'],
    ['hunter2Zq9Xw ', 'ends with a space at character 13: no client can send a token with trailing whitespace; remove it'],
    ['hunter2Zq9Xw\r\n', 'ends with a newline at character 14: no client can send a token with trailing whitespace; remove it (a Secret made with `echo` rather than `echo -n` ends with a newline)'],
    ['hunter2Zq9Xw\u00a0', 'ends with a Unicode space at character 13: no client can send a token with trailing whitespace; remove it'],
    ['hunter2 Zq9Xw', 'character 8 is a space: a bearer token is printable ASCII (0x21–0x7E), without spaces'],
    ['hunter2\u007fZq9Xw', 'character 8 is a control character: a bearer token is printable ASCII (0x21–0x7E), without spaces'],
    ['hunter2Zö9Xw', 'character 9 is a non-ASCII character: a bearer token is printable ASCII (0x21–0x7E), without spaces'],
    ['hunter2Z😀9Xw', 'character 9 is a non-ASCII character: a bearer token is printable ASCII (0x21–0x7E), without spaces'],
  ];
  for (const [token, problem] of refused) {
    const length = [...token].length;
    t.throws(() => loadConfig({ AUTH_TOKEN: token }), { name: 'ConfigError', variable: 'AUTH_TOKEN', message: `AUTH_TOKEN (not shown: ${length} characters): ${problem}` }, JSON.stringify(token));
  }
  const printable = '!"#$%&\'()*+,-./0-9:;<=>?@A-Z[\\]^_`a-z{|}~';
  t.equal(loadConfig({ AUTH_TOKEN: printable }).authToken, printable, 'every printable ASCII character is taken');
  t.equal(loadConfig({ AUTH_TOKEN: '' }).authToken, undefined, 'empty: no authentication');
  t.equal(loadConfig({}).authToken, undefined, 'unset: no authentication');
});

t.test('an empty AUTH_TOKEN still serves /v1 without authentication', async (t) => {
  const server = await startInProcessApp(t, { AUDIO_MODE: 'headless', AUTH_TOKEN: '' });
  t.equal((await fetch(`${server.url}/readyz`)).status, 200);
  t.equal((await fetch(`${server.url}/v1/streams`)).status, 200, 'no token needed');
});
