// The seccomp profile's aarch64 list, judged by an aarch64 kernel. Under
// qemu-user (arm64.test.ts, docker-multiarch.test.ts) the host kernel
// filters qemu's own x86_64 calls, so the list's aarch64 half is never
// consulted there. Here Debian's arm64 kernel boots under qemu-system-aarch64
// (scripts/arm64-kernel.sh) with the arm64 image's own root, and Debian's
// runc for arm64 starts speakerd from it as the manifest does: uid 10001,
// the audio group, no capabilities, no_new_privs, a read-only root and the
// shipped profile. speakerd serves and plays; unshare is refused; and a
// profile without epoll_pwait, a call only the aarch64 list needs (x86_64
// has epoll_wait), stops Node, which shows that the aarch64 list is the one
// applied.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';
import { onlySchedFifoRefused } from '../k8s/fixtures/container-checks';
import { pullArm64Image, startDockerEngine } from '../k8s/fixtures/docker-engine';
import { renderedPod, writeBundle } from '../k8s/fixtures/oci-bundle';

const root = path.resolve(__dirname, '../..');
const kernel = path.join(root, 'scripts/arm64-kernel.sh');
const NODE = '/usr/local/bin/node';
// Boot about 12 s; each Node start under system emulation some tens of seconds.
const GUEST_LIMIT_S = 900;
t.setTimeout((GUEST_LIMIT_S + 300) * 1000);

const shipped = JSON.parse(readFileSync(path.join(root, 'k8s/seccomp/speakerd.json'), 'utf8'));
const withoutEpollPwait = {
  ...shipped,
  syscalls: shipped.syscalls.map((rule: { names: string[] }) => ({ ...rule, names: rule.names.filter((name) => name !== 'epoll_pwait') })),
};

// Runs in the guest: the three containers one after the other, and a probe
// of the serving one with the image's Node from outside it. Everything lands
// in /results, which the host reads after power-off.
const GUEST_SCRIPT = `#!/bin/sh
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /tmp
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /results
echo "guest: $(uname -m) $(uname -r), runc $(runc --version | head -n 1)"
runc run --bundle /bundles/serve serve >/results/serve.log 2>&1 &
node /probe.js >/results/probe.json 2>/results/probe.err
runc kill serve TERM
wait
runc run --bundle /bundles/unshare unshare >/results/unshare.log 2>&1; echo $? >/results/unshare.exit
runc run --bundle /bundles/no-epoll-pwait no-epoll-pwait >/results/no-epoll-pwait.log 2>&1; echo $? >/results/no-epoll-pwait.exit
echo 0 >/guest.exit
sync
echo o >/proc/sysrq-trigger
`;

// The probe: /healthz until 200, one stream, and what speakerd says it runs under.
const PROBE = `
const url = 'http://127.0.0.1:8080';
const started = Date.now();
(async () => {
  let health = 0;
  while (health !== 200 && Date.now() - started < 600000) {
    health = await fetch(url + '/healthz').then((r) => r.status, () => 0);
    if (health !== 200) await new Promise((r) => setTimeout(r, 500));
  }
  const startMs = Date.now() - started;
  const body = Buffer.alloc(4800 * 4);
  for (let i = 0; i < 4800 * 2; i++) body.writeInt16LE((i * 37) % 20000 - 10000, i * 2);
  const stream = await fetch(url + '/v1/streams', { method: 'POST', headers: { 'content-type': 'audio/pcm;rate=48000;channels=2;format=s16le' }, body })
    .then(async (r) => ({ status: r.status, body: await r.json() }));
  const device = await fetch(url + '/v1/device').then((r) => r.json());
  console.log(JSON.stringify({ health, startMs, stream, process: device.diagnostics.process, arch: process.arch }));
})().catch((error) => { console.log(JSON.stringify({ error: String(error) })); });
`;

t.test('on an aarch64 kernel, the shipped profile lets speakerd serve and play, and refuses what it lists not', async (t) => {
  const api = await startDockerEngine(t);
  const image = pullArm64Image(api);
  const guest = scratchDir(t);
  const container = api.run(['create', image]).trim();
  execFileSync('bash', ['-c', `"$DOCKER" export ${container} | tar -x -C "${guest}"`], { env: api.env });
  api.run(['rm', container]);
  execFileSync('bash', [kernel, 'add-runc', guest]);

  const rendered = renderedPod('headless');
  const bundle = (name: string, args: string[], seccomp?: object) => {
    const dir = path.join(guest, 'bundles', name);
    mkdirSync(dir, { recursive: true });
    writeBundle(dir, rendered, { args, env: { PORT: '8080', PATH: '/usr/local/bin:/usr/bin:/bin' }, app: '/app', ...(seccomp ? { seccomp } : {}) });
  };
  bundle('serve', [NODE, '--max-semi-space-size=1', 'dist/cli.js', 'serve']);
  bundle('unshare', ['/usr/bin/unshare', '--user', '/usr/bin/true']);
  bundle('no-epoll-pwait', [NODE, '-e', 'setTimeout(() => console.log("node ran"), 10)'], withoutEpollPwait);
  writeFileSync(path.join(guest, 'guest.sh'), GUEST_SCRIPT);
  writeFileSync(path.join(guest, 'probe.js'), PROBE);

  const run = spawnSync('bash', [kernel, 'run', guest, String(GUEST_LIMIT_S)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const results = (name: string) => { try { return readFileSync(path.join(guest, 'results', name), 'utf8'); } catch { return ''; } };
  t.equal(run.status, 0, `the guest ran its script: ${run.stderr.trim()}\n${run.stdout.split('\n').slice(-20).join('\n')}`);
  t.match(run.stdout, /^guest: aarch64 /m, 'an aarch64 kernel');
  t.comment(run.stderr.trim());

  const probe = JSON.parse(results('probe.json') || '{}');
  t.equal(probe.health, 200, `/healthz 200 under the profile (${results('serve.log').split('\n').slice(-5).join('\n')}${results('probe.err')})`);
  t.comment(`speakerd on arm64 under qemu-system-aarch64 (TCG): /healthz 200 ${probe.startMs} ms after runc run`);
  t.match(probe.stream, { status: 200, body: { frames: 4800, mode: 'headless' } }, 'a stream played');
  t.match(probe.process, { uid: [10001, 10001, 10001, 10001], groups: [29], seccomp: 2, noNewPrivs: true, effectiveCapabilities: [] }, 'confined as the manifest says, the filter on');
  onlySchedFifoRefused(t, results('serve.log'));

  t.not(results('unshare.exit').trim(), '0');
  t.match(results('unshare.log'), /unshare failed: Operation not permitted/, 'unshare: EPERM');

  t.not(results('no-epoll-pwait.exit').trim(), '0', 'without epoll_pwait, Node cannot run its event loop on aarch64');
  // libuv's poll gets EPERM where only EINTR is expected, and aborts.
  t.match(results('no-epoll-pwait.log'), /uv__io_poll: Assertion `errno == EINTR' failed/, 'epoll_pwait refused by the aarch64 list');
  t.notMatch(results('no-epoll-pwait.log'), /node ran/);
});
