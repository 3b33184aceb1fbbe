// The arm64 stage: scripts/arm64.sh's CI test set (the addon's conversion,
// bit-exact output and fault handling on the software PCMs; the service as
// a process: headless start and health, device loss) run by the image's
// Node for arm64 under qemu-user, every process they start arm64 too,
// against the addon and alsa-lib configuration that the arm64 image ships.
// `bash scripts/arm64.sh test` runs the full set (the doctor, the clock
// sink and the drift interpolator besides). That image is the one
// test/k8s/docker-multiarch.test.ts published to the private registry; run
// alone, this stage publishes it first (cold: about 13 minutes).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pullArm64Image, startDockerEngine } from '../k8s/fixtures/docker-engine';

const root = path.resolve(__dirname, '../..');
const arm64 = path.join(root, 'scripts/arm64.sh');

t.test('the arm64 test set on arm64 Node, against the arm64 image\'s addon', async (t) => {
  const api = await startDockerEngine(t);
  const image = pullArm64Image(api);
  const tree = spawnSync('bash', [arm64, 'from-image', image], { cwd: root, env: api.env, encoding: 'utf8' });
  t.equal(tree.status, 0, `scripts/arm64.sh from-image: ${tree.stderr.trim()}`);
  await t.spawn('bash', [arm64, 'test', '--ci'], { cwd: root }, 'scripts/arm64.sh test --ci (arm64 Node under qemu-user)');
});
