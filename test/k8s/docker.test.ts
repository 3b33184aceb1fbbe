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
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { s16Pattern } from '../pcm-fixtures';
import { waitForStatus } from '../service/server-process';
import { freePort } from './fixtures/container-checks';
import { BUILD_SECRET, dockerEngineInstalled, startDockerEngine, type DockerEngine } from './fixtures/docker-engine';
import { holdsOnlyWhatShips, readsItsCompileCache, runsAsTheManifestSays } from './fixtures/docker-pod';
import { renderedPod, root } from './fixtures/oci-bundle';

// The first build on a machine compiles alsa-lib and installs packages: about
// 2-3 minutes here. Later runs reuse the engine's layer cache.
t.setTimeout(15 * 60_000);

const IMAGE = 'speakerd:test';
const dockerfileArg = (name: string) => new RegExp(`^ARG ${name}=(.+)$`, 'm').exec(readFileSync(path.join(root, 'Dockerfile'), 'utf8'))![1]!;
const BASE_IMAGE = `node:${dockerfileArg('NODE_VERSION')}-bookworm-slim`;

// Installed by scripts/setup.sh: a missing engine fails the tests, it does not skip them.
t.test('Docker Engine, its registry and debootstrap are installed (scripts/setup.sh installs them)', async (t) => {
  t.ok(dockerEngineInstalled(), 'docker.io and docker-registry');
  t.equal(spawnSync('debootstrap', ['--version']).status, 0, 'debootstrap');
});

let api: DockerEngine;
let baseSize = 0;

t.before(async () => {
  // The image tests need the engine: without it they fail here, with the fix, rather than skip.
  if (!dockerEngineInstalled()) throw new Error('Docker Engine is missing (/usr/sbin/dockerd, /usr/bin/docker, /usr/bin/docker-registry): scripts/setup.sh installs docker.io and docker-registry');
  api = await startDockerEngine(t);
  const base = spawnSync('bash', [path.join(root, 'scripts/docker-base-image.sh')], { env: api.env, encoding: 'utf8', timeout: 600_000 });
  if (base.status !== 0) throw new Error(`scripts/docker-base-image.sh failed: ${base.stderr}`);
  baseSize = Number(api.run(['image', 'inspect', '-f', '{{.Size}}', BASE_IMAGE]));
});

t.test('the image builds from the Dockerfile', async (t) => {
  const started = performance.now();
  const build = spawnSync(api.env.DOCKER!, ['build', '--network', 'host', ...BUILD_SECRET, '-t', IMAGE, root], {
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
  holdsOnlyWhatShips(t, api, IMAGE);
});

t.test('a start reads the compile cache made at build time, as uid 10001 on a read-only root', async (t) => {
  readsItsCompileCache(t, api, IMAGE);
});

t.test('with the manifest\'s settings it plays bit-exact, turns healthy, and exits 0 on SIGTERM as PID 1', async (t) => {
  const startMs = await runsAsTheManifestSays(t, api, IMAGE, 20_000);
  t.comment(`docker run to /healthz 200: ${startMs.toFixed(0)} ms`);
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
