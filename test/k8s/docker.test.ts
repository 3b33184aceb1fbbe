// The Dockerfile for real: Docker Engine (Debian's docker.io, started by the
// test) builds the image from a locally assembled base image
// (scripts/docker-base-image.sh: no registry is reachable here), and the image
// runs with the manifest's settings: its uid, gid and audio group, no
// capabilities, no_new_privs, the shipped seccomp profile, a read-only root
// with a /tmp tmpfs, and the ConfigMap's environment. It plays bit-exact into
// a file PCM, turns healthy through its HEALTHCHECK, and exits 0 on SIGTERM
// and SIGINT as PID 1. The image carries no libasound.so and no compiler,
// and its starts read the compile cache made when it was built.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { s16Pattern, scratchDir } from '../pcm-fixtures';
import { waitForStatus } from '../service/server-process';
import { FILE_PCM_ENV, freePort, onlySchedFifoRefused, playsBitExact, playsFlacBitExact, runsConfined } from './fixtures/container-checks';
import { dockerEngineInstalled, startDockerEngine, type DockerEngine } from './fixtures/docker-engine';
import { renderedPod, root } from './fixtures/oci-bundle';

// The first build on a machine compiles alsa-lib and installs packages: about
// 2-3 minutes here. Later runs reuse the engine's layer cache.
t.setTimeout(15 * 60_000);

const IMAGE = 'speakerd:test';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const dockerfileArg = (name: string) => new RegExp(`^ARG ${name}=(.+)$`, 'm').exec(readFileSync(path.join(root, 'Dockerfile'), 'utf8'))![1]!;
const BASE_IMAGE = `node:${dockerfileArg('NODE_VERSION')}-bookworm-slim`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Installed by scripts/setup.sh: a missing engine fails the tests, it does not skip them.
t.test('Docker Engine and debootstrap are installed (scripts/setup.sh installs them)', async (t) => {
  t.ok(dockerEngineInstalled(), 'docker.io');
  t.equal(spawnSync('debootstrap', ['--version']).status, 0, 'debootstrap');
});

let api: DockerEngine;
let baseSize = 0;

t.before(async () => {
  // The image tests need the engine: without it they fail here, with the fix, rather than skip.
  if (!dockerEngineInstalled()) throw new Error('Docker Engine is missing (/usr/sbin/dockerd, /usr/bin/docker): scripts/setup.sh installs docker.io');
  api = await startDockerEngine(t);
  const base = spawnSync('bash', [path.join(root, 'scripts/docker-base-image.sh')], { env: api.env, encoding: 'utf8', timeout: 600_000 });
  if (base.status !== 0) throw new Error(`scripts/docker-base-image.sh failed: ${base.stderr}`);
  baseSize = Number(api.run(['image', 'inspect', '-f', '{{.Size}}', BASE_IMAGE]));
});

t.test('the image builds from the Dockerfile', async (t) => {
  const secret = existsSync(CA_BUNDLE) ? ['--secret', `id=build-ca,src=${CA_BUNDLE}`] : [];
  const started = performance.now();
  const build = spawnSync(api.env.DOCKER!, ['build', '--network', 'host', ...secret, '-t', IMAGE, root], {
    env: { ...api.env, DOCKER_BUILDKIT: '1' },
    encoding: 'utf8',
    timeout: 900_000,
    maxBuffer: 64 << 20,
  });
  t.equal(build.status, 0, build.status === 0 ? 'docker build' : `docker build: ${build.stderr.split('\n').slice(-40).join('\n')}`);
  const size = Number(api.run(['image', 'inspect', '-f', '{{.Size}}', IMAGE]));
  t.comment(`image ${IMAGE}: ${(size / 1e6).toFixed(1)} MB, of which ${((size - baseSize) / 1e6).toFixed(1)} MB above ${BASE_IMAGE} (${(baseSize / 1e6).toFixed(1)} MB); built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  t.ok(size - baseSize < 25e6, 'speakerd, OpenTelemetry included, adds less than 25 MB to the Node image');
});

t.test('the image: uid 10001, a HEALTHCHECK without curl, no compiler, no libasound.so, alsa-lib\'s configuration present', async (t) => {
  const config = JSON.parse(api.run(['image', 'inspect', '-f', '{{json .Config}}', IMAGE]));
  t.equal(config.User, '10001:10001');
  t.same(config.Healthcheck.Test, ['CMD', 'node', 'dist/cli.js', 'healthcheck']);
  t.same(config.Entrypoint, ['node', '--max-semi-space-size=1', 'dist/cli.js']);
  t.same(config.Cmd, ['serve']);
  t.equal(config.StopSignal, 'SIGTERM');
  t.equal(config.WorkingDir, '/app');

  const inside = (script: string) => api.run(['run', '--rm', '--network', 'none', '--user', '0:0', '--entrypoint', '/bin/sh', IMAGE, '-c', script]);
  t.equal(inside('find / -xdev \\( -name "libasound.so*" -o -name "libspeexdsp.so*" \\) -print'), '', 'no libasound.so or libspeexdsp.so anywhere');
  t.equal(inside('for c in gcc g++ cc c++ cpp clang make; do command -v $c; done; find /usr -name cc1 -o -name cc1plus; true'), '', 'no compiler, preprocessor or make');
  t.equal(inside('dpkg-query -W -f "\\${Package}\\n" libasound2 gcc-12 g++-12 curl wget 2>/dev/null; true'), '', 'no such package installed');
  t.equal(inside('ldd build/Release/speakerd.node | grep -c -E "asound|speex|FLAC|opus|ogg|vorbis|mpg123|webm"; true').trim(), '0', 'the addon links alsa-lib, speexdsp and the codec libraries statically');
  const notices = inside('cat THIRD_PARTY_NOTICES');
  for (const library of ['alsa-lib 1.2.8', 'speexdsp 1.2.1', 'libogg 1.3.5', 'libFLAC (flac) 1.4.2', 'libopus (opus) 1.3.1', 'opusfile 0.12', 'libvorbis (libvorbis, libvorbisfile) 1.3.7', 'libmpg123 (mpg123) 1.31.2', 'libwebm (webm_parser, mkvparser, mkvmuxer) 1.0.0.29']) {
    t.match(notices, `\n${library}\n`, `the image's THIRD_PARTY_NOTICES has ${library}'s licence`);
  }
  t.match(inside('ls deps/alsa-lib/share/alsa'), /alsa\.conf\n/, 'alsa.conf is where the addon points alsa-lib');
  t.match(inside('ls node_modules'), /^fastify$/m);
  t.notMatch(inside('ls node_modules'), /^(typescript|tap|node-gyp|kubernetes-types)$/m, 'no dev dependency in the image');
  t.notMatch(inside('ls node_modules'), /^node-addon-api$/m, 'nor the headers the addon was compiled with');
});

t.test('a start reads the compile cache made at build time, as uid 10001 on a read-only root', async (t) => {
  const run = api.docker(['run', '--rm', '--network', 'none', '--read-only', '--user', '10001:10001', '-e', 'NODE_DEBUG_NATIVE=COMPILE_CACHE', IMAGE, '--help']);
  t.equal(run.status, 0, 'node dist/cli.js --help');
  t.match(run.stderr, /V8 code cache for CommonJS \/app\/dist\/cli\.js was accepted/, 'dist/cli.js is not parsed again');
});

t.test('with the manifest\'s settings it plays bit-exact, turns healthy, and exits 0 on SIGTERM as PID 1', async (t) => {
  const { pod, container, env } = renderedPod('device-plugin');
  const security = pod.securityContext;
  const out = scratchDir(t);
  chownSync(out, security.runAsUser, security.runAsGroup);
  const port = await freePort();
  const name = `speakerd-test-${process.pid}`;
  const overrides = { PORT: String(port), ...FILE_PCM_ENV };
  const tmpfs = container.volumeMounts.filter((mount: any) => pod.volumes.find((v: any) => v.name === mount.name)?.emptyDir).map((mount: any) => mount.mountPath);
  t.same(tmpfs, ['/tmp'], 'the manifest writes only to /tmp');
  const args = [
    'run', '-d', '--name', name, '--network', 'host',
    '--user', `${security.runAsUser}:${security.runAsGroup}`,
    ...security.supplementalGroups.flatMap((gid: number) => ['--group-add', String(gid)]),
    '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
    '--security-opt', `seccomp=${path.join(root, 'k8s/seccomp', path.basename(security.seccompProfile.localhostProfile))}`,
    '--read-only', ...tmpfs.flatMap((mountPath: string) => ['--tmpfs', mountPath]),
    '--memory', container.resources.limits.memory.replace(/Mi$/, 'm'),
    '--health-interval', '1s', '--health-start-period', '0s',
    '-v', `${out}:/out`,
    ...Object.entries({ ...env, ...overrides }).flatMap(([key, value]) => ['-e', `${key}=${value}`]),
    IMAGE,
  ];
  t.equal(security.runAsUser, 10001);
  t.same(security.supplementalGroups, [29]);
  api.run(args);
  t.teardown(() => { api.docker(['rm', '-f', name]); });
  const logs = () => api.docker(['logs', name]).stdout;
  const url = `http://127.0.0.1:${port}`;
  await waitForStatus(`${url}/healthz`, 200, 20_000).catch((error: Error) => {
    throw new Error(`${error.message}; container output:\n${logs()}${api.docker(['logs', name]).stderr}`);
  });

  await playsBitExact(t, url, out, 5);
  await playsFlacBitExact(t, url, out, scratchDir(t));
  // Docker lists the primary gid among the supplementary groups too.
  await runsConfined(t, url, [10001]);
  t.match(logs(), /"pid":1,/, 'speakerd is PID 1');

  // Docker's count for the cgroup (usage minus page cache), against the 256Mi limit.
  const usage = api.run(['stats', '--no-stream', '--format', '{{.MemUsage}}', name]).trim();
  const mib = Number(/^([\d.]+)MiB \//.exec(usage)?.[1]);
  t.comment(`memory after playing 1 s: ${usage}`);
  t.ok(mib > 0 && mib < 128, `the container uses ${mib} MiB, under half its limit`);

  let health = '';
  for (const deadline = Date.now() + 15_000; Date.now() < deadline && health !== 'healthy'; await sleep(250)) {
    health = api.run(['inspect', '-f', '{{.State.Health.Status}}', name]).trim();
  }
  t.equal(health, 'healthy', 'the HEALTHCHECK (node dist/cli.js healthcheck) passes under the same profile');

  // docker stop SIGKILLs after -t seconds; exit code 0 (not 137) means
  // speakerd ended on the SIGTERM by itself.
  api.run(['stop', '-t', '30', name], 40_000);
  t.equal(api.run(['inspect', '-f', '{{.State.ExitCode}}', name]).trim(), '0', 'exit code 0: SIGTERM handled, not killed');
  t.match(logs(), /"signal":"SIGTERM".*"msg":"shutting down: no new streams"/);
  t.match(logs(), /"msg":"stopped"/);
  onlySchedFifoRefused(t, logs());
});

t.test('headless, SIGINT (Ctrl-C in `docker run -it`) also stops it cleanly', async (t) => {
  const { env } = renderedPod('headless');
  const port = await freePort();
  const name = `speakerd-test-int-${process.pid}`;
  api.run([
    'run', '-d', '--name', name, '--network', 'host', '--user', '10001:10001', '--cap-drop', 'ALL',
    '--security-opt', 'no-new-privileges', '--security-opt', `seccomp=${path.join(root, 'k8s/seccomp/speakerd.json')}`,
    '--read-only', '--tmpfs', '/tmp',
    ...Object.entries({ ...env, PORT: String(port) }).flatMap(([key, value]) => ['-e', `${key}=${value}`]),
    IMAGE,
  ]);
  t.teardown(() => { api.docker(['rm', '-f', name]); });
  const url = `http://127.0.0.1:${port}`;
  await waitForStatus(`${url}/readyz`, 200, 20_000);
  const response = await fetch(`${url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'audio/pcm;rate=48000;channels=2;format=s16le' },
    body: s16Pattern(4800, 2),
  });
  t.match(await response.json(), { frames: 4800, mode: 'headless' });
  api.run(['kill', '-s', 'INT', name]);
  t.equal(api.run(['wait', name], 20_000).trim(), '0', 'exit code 0');
  t.match(api.docker(['logs', name]).stdout, /"signal":"SIGINT".*\n.*"msg":"stopped"/);
});
