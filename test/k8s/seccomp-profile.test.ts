import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

// The generator is plain CommonJS so that scripts/seccomp-measure.sh can run it
// without a build; the test derives the expected files with the same code.
interface SeccompRule {
  names: string[];
  action: string;
}
interface SeccompProfileJson {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: SeccompRule[];
}
interface Generator {
  FILES: { syscalls: string; json: string; yaml: string };
  parseSyscalls(text: string): string[];
  renderJson(names: string[]): string;
  renderYaml(names: string[]): string;
  expectedFiles(): { names: string[]; json: string; yaml: string };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require('../../scripts/seccomp-profile.cjs') as Generator;

const expected = generator.expectedFiles();
const json = readFileSync(generator.FILES.json, 'utf8');
const yaml = readFileSync(generator.FILES.yaml, 'utf8');
const profile = JSON.parse(json) as SeccompProfileJson;
const allowed = new Set(profile.syscalls.filter((rule) => rule.action === 'SCMP_ACT_ALLOW').flatMap((rule) => rule.names));

/** The list items under `key:` at `indent` spaces in the hand-written YAML. */
function yamlList(text: string, key: string, indent: number): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`${' '.repeat(indent)}${key}:`);
  if (start < 0) return [];
  const items: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const item = new RegExp(`^ {${indent + 2}}- (\\S+)$`).exec(line);
    if (!item) break;
    items.push(item[1]!);
  }
  return items;
}

t.test('speakerd.json and the SPO SeccompProfile are what --generate makes from syscalls.txt', async (t) => {
  t.equal(json, expected.json, 'k8s/seccomp/speakerd.json is stale: run scripts/seccomp-measure.sh --generate');
  t.equal(yaml, expected.yaml, 'k8s/seccomp/speakerd-seccompprofile.yaml is stale: run scripts/seccomp-measure.sh --generate');
  t.same([...allowed].sort(), expected.names);
  t.ok(expected.names.length > 60, `${expected.names.length} syscalls allowed`);
});

t.test('the generator is deterministic: sorted, deduplicated, comments ignored', async (t) => {
  const names = generator.parseSyscalls('# group\nwrite\nread # the PCM\n\n  ioctl  \nread\n');
  t.same(names, ['ioctl', 'read', 'write']);
  t.equal(generator.renderJson(['write', 'read']), generator.renderJson(['read', 'write', 'read']));
  t.equal(generator.renderYaml(['write', 'read']), generator.renderYaml(['read', 'write']));
  t.throws(() => generator.parseSyscalls('read\nopen at\n'), /line 2: not a syscall name/);
});

t.test('anything not listed fails with EPERM; nothing kills the process', async (t) => {
  t.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  t.equal(profile.defaultErrnoRet, 1, 'EPERM');
  t.same(profile.syscalls.map((rule) => rule.action), ['SCMP_ACT_ALLOW']);
  t.notMatch(json, /KILL|TRAP/);
  t.notMatch(yaml, /KILL|TRAP/);
  for (const arch of ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64']) t.ok(profile.architectures.includes(arch), arch);
});

t.test('the SPO resource carries the same action, architectures and names', async (t) => {
  t.match(yaml, /^apiVersion: security-profiles-operator\.x-k8s\.io\/v1beta1\nkind: SeccompProfile\nmetadata:\n {2}name: speakerd\n/m);
  t.match(yaml, /\nspec:\n {2}defaultAction: SCMP_ACT_ERRNO\n/);
  t.same(yamlList(yaml, 'architectures', 2), profile.architectures);
  t.match(yaml, /\n {2}syscalls:\n {4}- action: SCMP_ACT_ALLOW\n {6}names:\n/);
  t.same(yamlList(yaml, 'names', 6), profile.syscalls[0]!.names);
});

t.test('the playback thread, its real-time priority and shutdown are allowed', async (t) => {
  for (const name of [
    'ioctl', 'mmap', 'munmap', 'poll', 'ppoll', 'read', 'write', 'eventfd2',
    'timerfd_create', 'timerfd_settime', 'timerfd_gettime',
    'sched_setscheduler', 'sched_setattr', 'sched_getparam', 'sched_getscheduler', 'sched_get_priority_max',
    'clone', 'clone3', 'futex', 'rseq', 'set_robust_list',
    'epoll_pwait', 'epoll_ctl', 'inotify_init1', 'inotify_add_watch', 'accept4',
    'exit', 'exit_group', 'rt_sigreturn', 'restart_syscall',
    // aarch64 has only the *at and generic forms
    'openat', 'newfstatat', 'pipe2', 'dup3', 'getdents64', 'epoll_create1', 'pselect6',
  ]) {
    t.ok(allowed.has(name), `${name} is allowed`);
  }
});

t.test('every allowed name is a syscall libseccomp knows on x86_64 or aarch64, and the profile does not lean on x86_64-only calls on arm64', async (t) => {
  // scmp_sys_resolver (Debian's seccomp package) reads libseccomp's own
  // tables: a misspelt name would be skipped on every architecture, silently.
  const resolves = (arch: string, name: string) => {
    const result = spawnSync('scmp_sys_resolver', ['-a', arch, name], { encoding: 'utf8' });
    if (result.error) throw new Error('scmp_sys_resolver is missing: scripts/setup.sh installs the seccomp package');
    return Number(result.stdout.trim()) >= 0;
  };
  const unknown = [...allowed].filter((name) => !resolves('x86_64', name) && !resolves('aarch64', name));
  t.same(unknown, [], 'no name unknown to both');
  const x86Only = [...allowed].filter((name) => !resolves('aarch64', name)).sort();
  // What aarch64 lacks, each with its generic form allowed too. arch_prctl
  // (x86's thread-pointer register) needs none: aarch64 sets it without a call.
  const noneNeeded = new Set(['arch_prctl']);
  const genericForm: Record<string, string> = {
    access: 'faccessat', dup2: 'dup3', epoll_create: 'epoll_create1', epoll_wait: 'epoll_pwait', eventfd: 'eventfd2',
    getdents: 'getdents64', inotify_init: 'inotify_init1', lstat: 'newfstatat', mkdir: 'mkdirat', open: 'openat', pipe: 'pipe2', poll: 'ppoll',
    readlink: 'readlinkat', rename: 'renameat', select: 'pselect6', stat: 'newfstatat', unlink: 'unlinkat',
  };
  for (const name of x86Only.filter((name) => !noneNeeded.has(name))) {
    t.ok(genericForm[name] !== undefined && allowed.has(genericForm[name]!), `${name} (not on aarch64): ${genericForm[name] ?? 'no generic form known'} is allowed`);
  }
});

t.test('dangerous syscalls stay refused', async (t) => {
  for (const name of [
    'mount', 'umount2', 'unshare', 'setns', 'ptrace', 'bpf', 'init_module', 'finit_module', 'delete_module',
    'kexec_load', 'kexec_file_load', 'reboot', 'swapon', 'swapoff', 'pivot_root', 'chroot', 'keyctl', 'add_key',
    'request_key', 'perf_event_open', 'open_by_handle_at', 'process_vm_writev', 'userfaultfd',
    'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  ]) {
    t.notOk(allowed.has(name), `${name} is not allowed`);
  }
});
