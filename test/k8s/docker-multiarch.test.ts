// The image for linux/amd64 and linux/arm64, as scripts/docker-multiarch.sh
// makes it: one `docker build --platform` per architecture from the one
// Dockerfile (the builder on amd64 cross-compiles the addon and its static
// libraries for arm64), pushed to a registry and joined into one manifest
// list. The base image comes from the private registry the engine mirrors
// Docker Hub with (scripts/docker-base-image.sh --registry): no registry
// outside is reachable here.
//
// Then the arm64 image, pulled from the list as an arm64 node would, runs
// under qemu-user with the manifest's settings, as docker.test.ts runs the
// amd64 one. Under qemu-user the kernel's seccomp filter sees qemu's own
// x86_64 calls, not the aarch64 ones speakerd makes: the profile's aarch64
// list is proven on an aarch64 kernel (test/arm64/seccomp-kernel.test.ts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';
import { MULTIARCH_IMAGE, publishMultiArch, startDockerEngine, type DockerEngine } from './fixtures/docker-engine';
import { holdsOnlyWhatShips, readsItsCompileCache, runsAsTheManifestSays } from './fixtures/docker-pod';
import { root } from './fixtures/oci-bundle';

// Cold, the base images (the arm64 one's debootstrap second stage under
// qemu-user) and the two builds took 223, 263 and 319 s in CI; tap runs this
// file before docker.test.ts, whose build then comes from the cache.
t.setTimeout(30 * 60_000);

const REF = MULTIARCH_IMAGE;
/** e_machine in an ELF header: what the addon was compiled for. */
const ELF_MACHINE: Record<string, number> = { amd64: 0x3e, arm64: 0xb7 };

let api: DockerEngine;

t.before(async () => {
  api = await startDockerEngine(t);
});

t.test('one manifest list names the linux/amd64 and linux/arm64 images, each with its own addon', async (t) => {
  const started = performance.now();
  const build = publishMultiArch(api);
  t.equal(build.status, 0, build.status === 0 ? 'published' : `publishing failed: ${build.stderr.split('\n').slice(-40).join('\n')}`);
  const steps = build.stderr.split('\n').filter((line) => /^docker-(multiarch|base-image): \S+: (built|pushed)/.test(line));
  t.comment(`built and published in ${((performance.now() - started) / 1000).toFixed(1)} s: ${steps.join('; ')}`);

  const list = JSON.parse(api.run(['manifest', 'inspect', '--insecure', REF]));
  t.equal(list.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json', 'a manifest list');
  t.same(list.manifests.map((entry: any) => `${entry.platform.os}/${entry.platform.architecture}`), ['linux/amd64', 'linux/arm64']);

  const scratch = scratchDir(t);
  for (const arch of ['amd64', 'arm64']) {
    const image = `${REF}-${arch}`;
    t.equal(api.run(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', image]).trim(), `linux/${arch}`, `${image} says linux/${arch}`);
    const container = api.run(['create', image]).trim();
    const addon = path.join(scratch, `speakerd-${arch}.node`);
    api.run(['cp', `${container}:/app/build/Release/speakerd.node`, addon]);
    api.run(['rm', container]);
    t.equal(readFileSync(addon).readUInt16LE(18), ELF_MACHINE[arch], `its addon is compiled for ${arch}`);
    const size = Number(api.run(['image', 'inspect', '-f', '{{.Size}}', image]));
    t.comment(`${image}: ${(size / 1e6).toFixed(1)} MB`);
  }
});

t.test('an arm64 node pulling the list gets the arm64 image, and its Node runs as arm64', async (t) => {
  // Forget the local arm64 tag, as a node that never built it.
  api.docker(['rmi', `${REF}-arm64`]);
  api.run(['pull', '-q', '--platform', 'linux/arm64', REF], 300_000);
  t.equal(api.run(['image', 'inspect', '-f', '{{.Architecture}}', REF]).trim(), 'arm64');
  const arch = api.run(['run', '--rm', '--network', 'none', '--entrypoint', 'node', REF, '-p', 'process.arch + " " + process.version']).trim();
  t.match(arch, /^arm64 v24\./, `node in the arm64 image: ${arch}`);
});

t.test('the arm64 image holds only what ships, and reads its compile cache', async (t) => {
  holdsOnlyWhatShips(t, api, REF);
  readsItsCompileCache(t, api, REF);
});

t.test('the arm64 image, under qemu-user, plays bit-exact with the manifest\'s settings and exits 0 on SIGTERM', async (t) => {
  // Emulation makes the start some 10-20 times slower than on the node.
  const startMs = await runsAsTheManifestSays(t, api, REF, 180_000, true);
  t.comment(`arm64 under qemu-user: docker run to /healthz 200 in ${startMs.toFixed(0)} ms`);
});

t.test('under the profile, the arm64 image\'s node runs and a call outside the list fails with EPERM', async (t) => {
  // qemu-user passes the aarch64 unshare on as the host's, which the
  // profile's x86_64 list refuses: the image and its confinement; the
  // aarch64 list itself is test/arm64/seccomp-kernel.test.ts's.
  const confined = (entrypoint: string, args: string[]) => api.docker([
    'run', '--rm', '--network', 'none', '--user', '10001:10001', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
    '--security-opt', `seccomp=${path.join(root, 'k8s/seccomp/speakerd.json')}`, '--read-only', '--entrypoint', entrypoint, REF, ...args,
  ], { timeoutMs: 120_000 });
  const node = confined('node', ['-e', 'console.log(process.arch)']);
  t.equal(node.status, 0, node.stderr);
  t.equal(node.stdout, 'arm64\n');
  const unshare = confined('unshare', ['--user', 'true']);
  t.not(unshare.status, 0);
  t.match(unshare.stderr, /unshare failed: Operation not permitted/);
});
