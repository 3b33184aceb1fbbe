// What the kernel says about this process (/proc/self/status and
// /proc/self/limits): seccomp, NoNewPrivs, effective capabilities, ids, and
// whether the playback thread may use SCHED_FIFO. A container runtime decides
// all of these, and none of them is visible from the pod spec alone.
import { readFileSync } from 'node:fs';
import { minBufferMsWithoutRealtime, realtimePriority } from '../engine/addon';
import { finding, guardProbe, type Finding, type ProbeResult } from './finding';

// Bit numbers from linux/capability.h. Bits the kernel adds later decode as CAP_<bit>.
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN', // 0
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL', // 5
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE', // 10
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', // 15
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', // 20
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', // 25
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL', // 30
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM', // 35
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE', // 40
];

/** The priority the playback thread asks for (docs/decisions.md, "SCHED_FIFO priority 10"). */
export const PLAYBACK_RT_PRIORITY = realtimePriority;

export type SeccompMode = 'disabled' | 'strict' | 'filter';
const SECCOMP_MODES: Record<string, SeccompMode> = { '0': 'disabled', '1': 'strict', '2': 'filter' };

export interface ProcessStatus {
  /** Real, effective, saved and filesystem ids, as the Uid:/Gid: lines list them. */
  uid: number[];
  gid: number[];
  groups: number[];
  /** 0, 1 or 2; null when the kernel has no seccomp line (built without seccomp). */
  seccomp: number | null;
  seccompMode: SeccompMode | null;
  noNewPrivs: boolean | null;
  /** CapEff as the kernel prints it (hex). */
  capEffHex: string;
  effectiveCapabilities: string[];
}

export interface RealtimeState {
  /** RLIMIT_RTPRIO soft and hard limits; null when the line is missing. */
  rtprioSoft: number | null;
  rtprioHard: number | null;
  capSysNice: boolean;
  /** Whether sched_setscheduler(SCHED_FIFO, PLAYBACK_RT_PRIORITY) will be allowed. */
  schedFifoPossible: boolean;
}

export interface ProcessState extends ProcessStatus {
  realtime: RealtimeState;
}

export interface ProcessStateOptions {
  procStatus: string;
  procLimits: string;
}

function statusField(text: string, name: string): string | undefined {
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(text)?.[1]?.trim();
}

function numbers(field: string | undefined): number[] {
  return field ? field.split(/\s+/).filter(Boolean).map(Number) : [];
}

/** Capability names for a capability mask such as CapEff's "000001ffffffffff". */
export function decodeCapabilities(hex: string): string[] {
  const mask = BigInt(`0x${hex || '0'}`);
  const names: string[] = [];
  for (let bit = 0; 1n << BigInt(bit) <= mask; bit++) {
    if (mask & (1n << BigInt(bit))) names.push(CAPABILITY_NAMES[bit] ?? `CAP_${bit}`);
  }
  return names;
}

/** Parses the text of /proc/<pid>/status. */
export function parseProcessStatus(text: string): ProcessStatus {
  const uid = numbers(statusField(text, 'Uid'));
  if (uid.length === 0) throw new Error('no Uid: line; this is not a /proc/<pid>/status file');
  const seccompField = statusField(text, 'Seccomp');
  const seccomp = seccompField === undefined ? null : Number(seccompField);
  const noNewPrivs = statusField(text, 'NoNewPrivs');
  const capEffHex = statusField(text, 'CapEff') ?? '0';
  return {
    uid,
    gid: numbers(statusField(text, 'Gid')),
    groups: numbers(statusField(text, 'Groups')),
    seccomp,
    seccompMode: seccompField === undefined ? null : (SECCOMP_MODES[seccompField] ?? null),
    noNewPrivs: noNewPrivs === undefined ? null : noNewPrivs === '1',
    capEffHex,
    effectiveCapabilities: decodeCapabilities(capEffHex),
  };
}

/** RLIMIT_RTPRIO from the text of /proc/<pid>/limits ("Max realtime priority  soft  hard"). */
export function parseRtprio(limitsText: string): { soft: number | null; hard: number | null } {
  const match = /^Max realtime priority\s+(\S+)\s+(\S+)/m.exec(limitsText);
  // "unlimited" is as good as the highest priority, 99.
  const value = (field: string | undefined) => (field === undefined ? null : field === 'unlimited' ? 99 : Number(field));
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
}

// The kernel allows an unprivileged SCHED_FIFO up to the soft RLIMIT_RTPRIO;
// CAP_SYS_NICE allows any priority.
export function realtimeState(status: ProcessStatus, limitsText: string): RealtimeState {
  const { soft, hard } = parseRtprio(limitsText);
  const capSysNice = status.effectiveCapabilities.includes('CAP_SYS_NICE');
  return { rtprioSoft: soft, rtprioHard: hard, capSysNice, schedFifoPossible: capSysNice || (soft ?? 0) >= PLAYBACK_RT_PRIORITY };
}

function realtimeFinding(realtime: RealtimeState): Finding {
  if (realtime.schedFifoPossible) {
    const why = realtime.capSysNice ? 'CAP_SYS_NICE is held' : `RLIMIT_RTPRIO is ${realtime.rtprioSoft}`;
    return finding('REALTIME_OK', 'ok', `the playback thread may run SCHED_FIFO at priority ${PLAYBACK_RT_PRIORITY} (${why})`, 'nothing to do', 'process');
  }
  return finding(
    'E_NO_REALTIME',
    'warning',
    `SCHED_FIFO is not allowed: no CAP_SYS_NICE and RLIMIT_RTPRIO is ${realtime.rtprioSoft ?? 'unknown'} (below ${PLAYBACK_RT_PRIORITY}); playback runs at normal priority with at least an ${minBufferMsWithoutRealtime} ms device buffer, and may still underrun when the node is overloaded`,
    // Checked with Docker here: --cap-add SYS_NICE leaves a non-root user with
    // no capability at all (no ambient capabilities), as Kubernetes does.
    'nothing is needed for clean playback. For SCHED_FIFO: capabilities.add SYS_NICE reaches only a container running as root (Kubernetes sets no ambient capabilities), and on cgroup v1 kernels with real-time group scheduling the container\'s cgroup also needs cpu.rt_runtime_us',
    'process',
  );
}

/** Reads this process's state. Never throws. */
export function probeProcessState(options: ProcessStateOptions): ProbeResult<ProcessState> {
  return guardProbe('process', () => {
    const status = parseProcessStatus(readFileSync(options.procStatus, 'utf8'));
    const realtime = realtimeState(status, readFileSync(options.procLimits, 'utf8'));
    return { data: { ...status, realtime }, findings: [realtimeFinding(realtime)] };
  });
}
