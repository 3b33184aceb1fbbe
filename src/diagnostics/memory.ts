// The container's memory limit against what speakerd may grow to. V8 does not
// reserve its heap limit up front, so a limit below it is not refused at start:
// the process is OOM-killed later, under load, with nothing in its own log.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { Config } from '../config';
import { bytesPerFrame } from '../formats/audio-format';
import { finding, guardProbe, type Finding, type ProbeResult } from './finding';

const MiB = 1024 * 1024;

/** A stream ring's default size (docs/decisions.md, "Ring size"; kDefaultRingBytes in device_wrap.cc). */
export const DEFAULT_RING_BYTES = 256 * 1024;

/**
 * RSS of the service apart from heap growth and rings, with room to spare:
 * `npm run bench -- memory` measures 68 MiB idle on Node 20 and 83 MiB on
 * Node 24, V8 heap included.
 */
export const BASE_RSS_BYTES = 80 * MiB;

// cgroup v1 has no "max": an unlimited memory.limit_in_bytes is PAGE_COUNTER_MAX
// pages rounded to the page size (9223372036854771712 on x86-64). Anything
// from 2^62 up is no limit in practice.
const V1_UNLIMITED_FROM = 2n ** 62n;

export interface CgroupMemoryLimit {
  version: 1 | 2 | null;
  /** The file the limit came from; null when no memory controller was found. */
  file: string | null;
  /** The tightest limit on the way to the hierarchy's root; null means unlimited or unknown (see version). */
  limitBytes: number | null;
}

export interface MemoryBudget {
  heapLimitBytes: number;
  maxStreams: number;
  ringBytesPerStream: number;
  deviceBufferBytes: number;
  baseBytes: number;
  /** Heap limit + rings at MAX_STREAMS + device buffer + base. */
  neededBytes: number;
}

export interface MemoryReport {
  cgroup: CgroupMemoryLimit;
  budget: MemoryBudget;
}

export interface MemoryOptions {
  procCgroup: string;
  cgroupRoot: string;
  /** Defaults to this process's v8.getHeapStatistics().heap_size_limit. */
  heapLimitBytes?: number;
}

function nextPowerOfTwo(value: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, value)));
}

/** Memory the configuration may use beyond the JS heap, computed like device_wrap.cc sizes rings. */
export function memoryBudget(config: Pick<Config, 'audio' | 'maxStreams'>, heapLimitBytes: number): MemoryBudget {
  const { format, channels, periodFrames, periods } = config.audio;
  const frameBytes = bytesPerFrame(format, channels);
  const bufferFrames = periodFrames * periods;
  // A ring holds the default bytes or two device buffers, whichever is more,
  // in a power-of-two number of frames.
  const ringFrames = nextPowerOfTwo(Math.max(Math.floor(DEFAULT_RING_BYTES / frameBytes), 2 * bufferFrames));
  const ringBytesPerStream = ringFrames * frameBytes;
  const deviceBufferBytes = bufferFrames * frameBytes;
  return {
    heapLimitBytes,
    maxStreams: config.maxStreams,
    ringBytesPerStream,
    deviceBufferBytes,
    baseBytes: BASE_RSS_BYTES,
    neededBytes: heapLimitBytes + config.maxStreams * ringBytesPerStream + deviceBufferBytes + BASE_RSS_BYTES,
  };
}

/** /proc/self/cgroup → the v2 path ("0::/path") and the v1 memory controller's path ("N:…memory…:/path"). */
export function parseProcCgroup(text: string): { v2: string | null; v1Memory: string | null } {
  let v2: string | null = null;
  let v1Memory: string | null = null;
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, controllers, cgroupPath] = match as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') v2 = cgroupPath;
    else if (controllers.split(',').includes('memory')) v1Memory = cgroupPath;
  }
  return { v2, v1Memory };
}

/** A memory.max or memory.limit_in_bytes value: bytes, or null for no limit. */
export function parseLimit(text: string): number | null {
  const value = text.trim();
  if (value === 'max') return null;
  if (!/^\d+$/.test(value)) throw new Error(`not a memory limit: ${JSON.stringify(value)}`);
  const bytes = BigInt(value);
  return bytes >= V1_UNLIMITED_FROM ? null : Number(bytes);
}

// The effective limit is the smallest on the way up: a parent's limit binds
// its children. Without a cgroup namespace the path in /proc/self/cgroup may
// not exist under the mount (the container sees only its own cgroup as the
// root), so the mount's root directory is the fallback.
function tightestLimit(mount: string, cgroupPath: string, fileName: string): { file: string; limitBytes: number | null } | null {
  let dir = path.join(mount, cgroupPath);
  if (path.relative(mount, dir).startsWith('..') || !existsSync(dir)) dir = mount;
  let found: { file: string; limitBytes: number | null } | null = null;
  for (;;) {
    const file = path.join(dir, fileName);
    if (existsSync(file)) {
      const limitBytes = parseLimit(readFileSync(file, 'utf8'));
      if (!found) found = { file, limitBytes };
      else if (limitBytes !== null && (found.limitBytes === null || limitBytes < found.limitBytes)) found = { file, limitBytes };
    }
    if (path.relative(mount, dir) === '' || path.dirname(dir) === dir) return found;
    dir = path.dirname(dir);
  }
}

/** Finds this process's cgroup memory limit: v2 (mounted at the root or, in the hybrid layout, at unified/) first, then v1. */
export function readCgroupMemoryLimit(procCgroup: string, cgroupRoot: string): CgroupMemoryLimit {
  const { v2, v1Memory } = parseProcCgroup(readFileSync(procCgroup, 'utf8'));
  if (v2 !== null) {
    for (const mount of [cgroupRoot, path.join(cgroupRoot, 'unified')]) {
      // A v2 mount has cgroup.controllers; the hybrid layout's unified/ often has no memory controller.
      if (!existsSync(path.join(mount, 'cgroup.controllers'))) continue;
      const found = tightestLimit(mount, v2, 'memory.max');
      if (found) return { version: 2, ...found };
    }
  }
  if (v1Memory !== null) {
    const found = tightestLimit(path.join(cgroupRoot, 'memory'), v1Memory, 'memory.limit_in_bytes');
    if (found) return { version: 1, ...found };
  }
  return { version: null, file: null, limitBytes: null };
}

/** Sizes rounded up, so that a budget is never understated: "345 MiB", or "16 KiB" below a mebibyte. */
export function formatSize(bytes: number): string {
  return bytes < MiB ? `${Math.ceil(bytes / 1024)} KiB` : `${Math.ceil(bytes / MiB)} MiB`;
}

function memoryFinding(report: MemoryReport): Finding {
  const { cgroup, budget } = report;
  const parts = `V8 heap limit ${formatSize(budget.heapLimitBytes)} + ${budget.maxStreams} rings of ${formatSize(budget.ringBytesPerStream)} + device buffer ${formatSize(budget.deviceBufferBytes)} + base ${formatSize(budget.baseBytes)}`;
  if (cgroup.version === null) {
    return finding('MEMORY_UNKNOWN', 'warning', `no cgroup memory controller found; speakerd may need ${formatSize(budget.neededBytes)} (${parts})`, 'check the container runtime\'s memory limit by hand', 'memory');
  }
  if (cgroup.limitBytes === null) {
    return finding('MEMORY_UNLIMITED', 'ok', `no cgroup memory limit (${cgroup.file}); speakerd may need ${formatSize(budget.neededBytes)} (${parts})`, 'nothing to do; a limit of at least that size keeps the node safe', 'memory');
  }
  const neededMiB = Math.ceil(budget.neededBytes / MiB);
  if (cgroup.limitBytes < budget.neededBytes) {
    // The heap is the part to trade: what is left of the limit after the rest.
    const heapRoomMiB = Math.floor((cgroup.limitBytes - (budget.neededBytes - budget.heapLimitBytes)) / MiB);
    const lowerHeap = heapRoomMiB >= 64 ? `, or cap the heap with NODE_OPTIONS=--max-old-space-size=${heapRoomMiB}` : '';
    return finding(
      'E_MEMORY_LOW',
      'warning',
      `the cgroup memory limit is ${formatSize(cgroup.limitBytes)} (${cgroup.file}), below the ${neededMiB} MiB speakerd may use (${parts}): it can be OOM-killed under load`,
      `set resources.limits.memory to at least ${neededMiB}Mi${lowerHeap}, or lower MAX_STREAMS`,
      'memory',
    );
  }
  return finding('MEMORY_OK', 'ok', `the cgroup memory limit is ${formatSize(cgroup.limitBytes)} (${cgroup.file}), enough for ${neededMiB} MiB (${parts})`, 'nothing to do', 'memory');
}

/** Compares the cgroup memory limit with what the configuration may use. Never throws. */
export function probeMemory(config: Pick<Config, 'audio' | 'maxStreams'>, options: MemoryOptions): ProbeResult<MemoryReport> {
  return guardProbe('memory', () => {
    const cgroup = readCgroupMemoryLimit(options.procCgroup, options.cgroupRoot);
    const budget = memoryBudget(config, options.heapLimitBytes ?? getHeapStatistics().heap_size_limit);
    const report = { cgroup, budget };
    return { data: report, findings: [memoryFinding(report)] };
  });
}
