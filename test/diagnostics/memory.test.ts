import t from 'tap';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { memoryBudget, probeMemory, readCgroupMemoryLimit } from '../../src/diagnostics/memory';
import { doctorJson, scratchDir } from './fixtures/doctor-process';

const MiB = 1024 * 1024;
const defaults = loadConfig({});

// A fake /sys/fs/cgroup and /proc/self/cgroup in a scratch folder.
function cgroupFixture(t: Parameters<typeof scratchDir>[0], procCgroup: string, files: Record<string, string>) {
  const root = scratchDir(t, 'cgroup');
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, 'sys', file)), { recursive: true });
    writeFileSync(path.join(root, 'sys', file), content);
  }
  writeFileSync(path.join(root, 'proc-cgroup'), procCgroup);
  return { procCgroup: path.join(root, 'proc-cgroup'), cgroupRoot: path.join(root, 'sys') };
}

t.test('cgroup v2 "max" is no limit', async (t) => {
  const paths = cgroupFixture(t, '0::/kubepods/pod1/speakerd\n', { 'cgroup.controllers': 'memory', 'kubepods/pod1/speakerd/memory.max': 'max\n' });
  t.same(readCgroupMemoryLimit(paths.procCgroup, paths.cgroupRoot), { version: 2, file: path.join(paths.cgroupRoot, 'kubepods/pod1/speakerd/memory.max'), limitBytes: null });
});

t.test('cgroup v2: a number is the limit, and a tighter parent binds the child', async (t) => {
  const paths = cgroupFixture(t, '0::/kubepods/pod1/speakerd\n', {
    'cgroup.controllers': 'memory',
    'kubepods/pod1/speakerd/memory.max': '268435456\n',
    'kubepods/pod1/memory.max': '134217728\n',
    'kubepods/memory.max': 'max\n',
  });
  t.same(readCgroupMemoryLimit(paths.procCgroup, paths.cgroupRoot), { version: 2, file: path.join(paths.cgroupRoot, 'kubepods/pod1/memory.max'), limitBytes: 128 * MiB });
});

t.test('the hybrid layout: v2 at unified/ when it has memory.max, else the v1 memory controller', async (t) => {
  const unified = cgroupFixture(t, '4:memory:/a\n0::/b\n', { 'unified/cgroup.controllers': 'memory', 'unified/b/memory.max': '536870912\n', 'memory/a/memory.limit_in_bytes': '1073741824\n' });
  t.same(readCgroupMemoryLimit(unified.procCgroup, unified.cgroupRoot), { version: 2, file: path.join(unified.cgroupRoot, 'unified/b/memory.max'), limitBytes: 512 * MiB });
  // As on this machine: unified/ has no memory controller, so no memory.max.
  const v1 = cgroupFixture(t, '4:memory:/a\n0::/\n', { 'unified/cgroup.controllers': '', 'memory/a/memory.limit_in_bytes': '1073741824\n' });
  t.same(readCgroupMemoryLimit(v1.procCgroup, v1.cgroupRoot), { version: 1, file: path.join(v1.cgroupRoot, 'memory/a/memory.limit_in_bytes'), limitBytes: 1024 * MiB });
});

t.test('cgroup v1: the huge "unlimited" value is no limit, a number is the limit', async (t) => {
  const huge = cgroupFixture(t, '9:name=systemd:/\n4:memory:/pod\n0::/\n', { 'memory/pod/memory.limit_in_bytes': '9223372036854771712\n' });
  t.same(readCgroupMemoryLimit(huge.procCgroup, huge.cgroupRoot), { version: 1, file: path.join(huge.cgroupRoot, 'memory/pod/memory.limit_in_bytes'), limitBytes: null });
  const limited = cgroupFixture(t, '4:memory:/pod\n', { 'memory/pod/memory.limit_in_bytes': '536870912\n' });
  t.same(readCgroupMemoryLimit(limited.procCgroup, limited.cgroupRoot), { version: 1, file: path.join(limited.cgroupRoot, 'memory/pod/memory.limit_in_bytes'), limitBytes: 512 * MiB });
});

t.test('without a cgroup namespace the mount root holds the limit', async (t) => {
  const paths = cgroupFixture(t, '0::/docker/0123abcd\n', { 'cgroup.controllers': 'memory', 'memory.max': '268435456\n' });
  t.same(readCgroupMemoryLimit(paths.procCgroup, paths.cgroupRoot), { version: 2, file: path.join(paths.cgroupRoot, 'memory.max'), limitBytes: 256 * MiB });
});

t.test('rings follow device_wrap.cc: 256 KiB, or two device buffers, in a power of two of frames', async (t) => {
  t.same(memoryBudget(defaults, 100 * MiB), {
    heapLimitBytes: 100 * MiB, maxStreams: 8, ringBytesPerStream: MiB / 4, deviceBufferBytes: 1024 * 4 * 4, baseBytes: 80 * MiB, neededBytes: 100 * MiB + 2 * MiB + 16384 + 80 * MiB,
  });
  // S24_3LE stereo: 256 KiB / 6 bytes = 43690 frames → 65536 frames of 6 bytes.
  t.equal(memoryBudget({ ...defaults, audio: { ...defaults.audio, format: 'S24_3LE' } }, 0).ringBytesPerStream, 65536 * 6);
  // 8192-frame periods × 64: two buffers (1 Mi frames) outgrow the default.
  t.equal(memoryBudget({ ...defaults, audio: { ...defaults.audio, periodFrames: 8192, periods: 64 } }, 0).ringBytesPerStream, 2 * 8192 * 64 * 4);
});

t.test('E_MEMORY_LOW says how much memory to set and what heap would fit', async (t) => {
  const paths = cgroupFixture(t, '0::/pod\n', { 'cgroup.controllers': 'memory', 'pod/memory.max': '268435456\n' });
  const result = probeMemory(defaults, { ...paths, heapLimitBytes: 256 * MiB });
  const file = path.join(paths.cgroupRoot, 'pod/memory.max');
  t.same(result.findings, [
    {
      code: 'E_MEMORY_LOW',
      severity: 'warning',
      message: `the cgroup memory limit is 256 MiB (${file}), below the 339 MiB speakerd may use (V8 heap limit 256 MiB + 8 rings of 256 KiB + device buffer 16 KiB + base 80 MiB): it can be OOM-killed under load`,
      hint: 'set resources.limits.memory to at least 339Mi, or cap the heap with NODE_OPTIONS=--max-old-space-size=173, or lower MAX_STREAMS',
      probe: 'memory',
    },
  ]);
  const enough = probeMemory({ ...defaults, maxStreams: 2 }, { ...paths, heapLimitBytes: 128 * MiB });
  t.equal(enough.findings[0]!.code, 'MEMORY_OK');
  t.equal(enough.findings[0]!.message, `the cgroup memory limit is 256 MiB (${file}), enough for 209 MiB (V8 heap limit 128 MiB + 2 rings of 256 KiB + device buffer 16 KiB + base 80 MiB)`);
});

// A real v1 memory cgroup under our own, with a 256 MiB limit; the doctor
// child moves itself into it before node starts.
t.test('a real cgroup v1 memory limit is what the doctor reports', async (t) => {
  const ownPath = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  const parent = path.join('/sys/fs/cgroup/memory', ownPath ?? '/');
  t.ok(existsSync(path.join(parent, 'memory.limit_in_bytes')), 'this machine has the v1 memory controller');
  const cgroup = path.join(parent, `speakerd-test-${process.pid}`);
  mkdirSync(cgroup);
  t.teardown(() => rmdirSync(cgroup));
  writeFileSync(path.join(cgroup, 'memory.limit_in_bytes'), String(256 * MiB));
  const { report } = doctorJson({ AUDIO_MODE: 'headless' }, ['sh', '-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$@"`, 'sh']);
  t.same(report.memory!.cgroup, { version: 1, file: path.join(cgroup, 'memory.limit_in_bytes'), limitBytes: 256 * MiB });
  // Node sizes its heap from the cgroup limit, so the default heap alone nearly fills it.
  const { budget } = report.memory!;
  const neededMiB = Math.ceil(budget.neededBytes / MiB);
  t.ok(budget.neededBytes > 256 * MiB, `needs ${neededMiB} MiB with a heap limit of ${budget.heapLimitBytes} bytes`);
  const low = report.findings.find((item) => item.code === 'E_MEMORY_LOW');
  t.match(low?.hint, new RegExp(`^set resources\\.limits\\.memory to at least ${neededMiB}Mi, or cap the heap with NODE_OPTIONS=--max-old-space-size=173, or lower MAX_STREAMS$`));
});
