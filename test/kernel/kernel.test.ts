// The kernel suite: the guest tests (test/kernel/guest/*.ts) on real sound
// drivers. This machine's kernel has none, so one QEMU boot of Debian's kernel
// (scripts/kernel-vm.sh) runs them all, bundled into one file that one node
// process runs (bundle-guest-tests.mjs); the guest's TAP comes back as this
// test's subtests.
//
// Under TCG a boot takes 5-6 s and a node start ~0.6 s, so the suite boots
// once per run: CI's Node 24 stage leaves this file out (test-node24.sh).
// test/kernel/README.md says how to write a guest test.
// GUEST_TESTS=smoke,loopback (names in test/kernel/guest/) runs some of them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const kernelVm = path.join(root, 'scripts/kernel-vm.sh');
// A limit, not the target: the guest suite takes about 5.5 min on CI's 2
// idle cores (2.5 of them sync-drift.ts's two 60 s streams), and under
// emulation it slows with whatever else the host runs (with both cores
// busy, the 100 unplug cycles alone took 190 s). Past the limit, tap in the
// guest fails the test that is running and the suite ends; the VM is given
// a little more to report that and power off.
const GUEST_SUITE_LIMIT_S = 900;
// Plus a cold `prepare` (a 70 MB download and unpacking, ~10 s) and slack.
t.setTimeout(18 * 60_000);

const seconds = (from: number) => `${((performance.now() - from) / 1000).toFixed(1)} s`;

function run(command: string, args: string[]) {
  return spawnSync(command, args, { cwd: root, encoding: 'utf8' });
}

/** Prepares the kernel and bundles the guest tests; returns the bundle's path, or undefined after failing t. */
function prepareGuest(): string | undefined {
  // Installed by scripts/setup.sh: a missing tool fails the suite, it does not skip it.
  if (run('qemu-system-x86_64', ['--version']).status !== 0) {
    t.fail('qemu-system-x86_64 is missing: run scripts/setup.sh');
    return undefined;
  }
  const started = performance.now();
  const prepared = run('bash', [kernelVm, 'prepare']);
  if (prepared.status !== 0) {
    t.fail(`scripts/kernel-vm.sh prepare failed (scripts/setup.sh installs what it needs):\n${prepared.stderr}`);
    return undefined;
  }
  t.comment(`kernel ${prepared.stdout.trim()}, prepared in ${seconds(started)}`);
  const names = process.env.GUEST_TESTS?.split(/[\s,]+/).filter(Boolean) ?? [];
  const bundled = run(process.execPath, [path.join(__dirname, 'bundle-guest-tests.mjs'), ...names]);
  if (bundled.status !== 0) {
    t.fail(`bundling the guest tests failed:\n${bundled.stderr}`);
    return undefined;
  }
  return bundled.stdout.trim();
}

const bundle = prepareGuest();
if (bundle !== undefined) {
  const guestCommand = [
    'env', `TAP_TIMEOUT=${GUEST_SUITE_LIMIT_S}`,
    // The machine's Node 20, whichever node runs this file.
    '/usr/bin/node', bundle,
  ];
  const vmArgs = ['run', '--timeout', String(GUEST_SUITE_LIMIT_S + 20), ...guestCommand];
  t.spawn('bash', [kernelVm, ...vmArgs], { cwd: root }, `guest tests (${bundle}) on Debian's kernel`);
}
