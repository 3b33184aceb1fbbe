// The manifest's security settings for real: speakerd runs under runc with
// the uid, groups, capabilities, no_new_privs, read-only root, emptyDir tmpfs
// and seccomp profile that the rendered DaemonSet sets (fixtures/oci-bundle.ts),
// passes its probes, plays bit-exact into a file PCM, plays headless, and
// stops cleanly on SIGTERM; a system call outside the profile fails.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { s16Pattern, scratchDir } from '../pcm-fixtures';
import { waitForStatus } from '../service/server-process';
import { FILE_PCM_ENV, freePort, onlySchedFifoRefused, playsBitExact, playsFlacBitExact, runsConfined } from './fixtures/container-checks';
import { renderedPod, writeBundle, type BundleOptions } from './fixtures/oci-bundle';

const SERVE = ['/usr/bin/node', '--max-semi-space-size=1', 'dist/cli.js', 'serve'];
// Installed by scripts/setup.sh: a missing runc fails the tests, it does not skip them.
const runcAvailable = spawnSync('runc', ['--version']).status === 0;

function runc(...args: string[]) {
  return spawnSync('runc', args, { encoding: 'utf8', timeout: 20_000 });
}

async function waitStopped(id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const state = runc('state', id);
    if (state.status !== 0 || /"status": "stopped"/.test(state.stdout)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** Starts a detached container; resolves with its URL and log file. */
async function startContainer(t: Tap.Test, overlay: string, options: Omit<BundleOptions, 'args'> & { args?: string[] }) {
  const dir = scratchDir(t);
  const port = await freePort();
  const id = `speakerd-test-${process.pid}-${port}`;
  // HOST stays the ConfigMap's 0.0.0.0: Fastify then lists the interfaces
  // (netlink), which a profile measured on 127.0.0.1 alone refused.
  writeBundle(dir, renderedPod(overlay), { args: SERVE, ...options, env: { PORT: String(port), ...options.env } });
  const log = path.join(dir, 'container.log');
  const fd = openSync(log, 'w');
  // runc run -d keeps the call until stdio closes unless it is redirected.
  const started = spawnSync('runc', ['run', '-d', '--bundle', dir, id], { stdio: ['ignore', fd, fd], timeout: 20_000 });
  closeSync(fd);
  t.teardown(() => {
    runc('kill', '--all', id, 'KILL');
    runc('delete', '-f', id);
  });
  if (started.status !== 0) throw new Error(`runc run failed: ${readFileSync(log, 'utf8')}`);
  const url = `http://127.0.0.1:${port}`;
  const logs = () => readFileSync(log, 'utf8');
  // A container that died before answering says why, instead of a bare timeout.
  const waitFor = (route: string) => waitForStatus(`${url}${route}`, 200, 15_000).catch((error: Error) => {
    throw new Error(`${error.message}; container output:\n${logs()}`);
  });
  return { id, url, logs, waitFor };
}

t.test('runc is installed (scripts/setup.sh installs it)', async (t) => {
  t.ok(runcAvailable);
});

t.test('under the manifest\'s security settings speakerd passes its probes, plays bit-exact, reports what it runs under, and exits on SIGTERM', async (t) => {
  const out = scratchDir(t);
  chownSync(out, 10001, 10001);
  const container = await startContainer(t, 'device-plugin', {
    env: FILE_PCM_ENV,
    writable: [{ host: out, container: '/out' }],
  });
  await container.waitFor('/healthz');
  t.equal((await fetch(`${container.url}/livez`)).status, 200);
  t.equal((await fetch(`${container.url}/readyz`)).status, 200);

  await playsBitExact(t, container.url, out, 11);
  await playsFlacBitExact(t, container.url, out, scratchDir(t));
  await runsConfined(t, container.url);

  t.equal(runc('kill', container.id, 'TERM').status, 0);
  t.ok(await waitStopped(container.id, 10_000), 'the container stops after SIGTERM');
  t.match(container.logs(), /"msg":"stopped"/, 'speakerd shut down gracefully (it logs "stopped" just before exit 0)');
  onlySchedFifoRefused(t, container.logs());
});

t.test('headless under the same settings plays a stream into the clock sink', async (t) => {
  const container = await startContainer(t, 'headless', { env: {} });
  await container.waitFor('/readyz');
  const response = await fetch(`${container.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'audio/pcm;rate=48000;channels=2;format=s16le' },
    body: s16Pattern(12_000, 2),
  });
  t.equal(response.status, 200);
  t.match(await response.json(), { frames: 12_000, mode: 'headless' });
  t.equal(runc('kill', container.id, 'TERM').status, 0);
  t.ok(await waitStopped(container.id, 10_000));
  t.match(container.logs(), /"msg":"stopped"/);
});

t.test('the profile is not allow-all: unshare and mount fail with EPERM under it, while ordinary programs run', async (t) => {
  const run = (args: string[]) => {
    const dir = scratchDir(t);
    mkdirSync(dir, { recursive: true });
    writeBundle(dir, renderedPod('headless'), { args, env: {} });
    const id = `speakerd-seccomp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    t.teardown(() => runc('delete', '-f', id));
    return spawnSync('runc', ['run', '--bundle', dir, id], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const node = run(['/usr/bin/node', '-e', 'console.log("node runs")']);
  t.equal(node.status, 0);
  t.equal(node.stdout, 'node runs\n');
  const unshare = run(['/usr/bin/unshare', '--user', '/usr/bin/true']);
  t.not(unshare.status, 0);
  t.match(unshare.stderr, /unshare failed: Operation not permitted/);
  const mount = run(['/usr/bin/node', '-e', 'require("child_process").execFileSync("/usr/bin/mount", ["-t", "tmpfs", "x", "/tmp"], { stdio: "inherit" })']);
  t.not(mount.status, 0);
  t.match(mount.stderr, /permission denied|Operation not permitted|must be superuser/i);
});
