// What the kernel says a process costs: CPU time and memory from /proc,
// read from outside, so that measuring a server does not change it.
import fs from 'node:fs';

// USER_HZ: the unit of the times in /proc/<pid>/stat; 100 on every Linux ABI
// in use (sysconf(_SC_CLK_TCK), which Node does not expose).
const CLOCK_TICKS_PER_SECOND = 100;

/** The fields after the command name, which may itself hold spaces and parentheses. */
function statFields(file) {
  const stat = fs.readFileSync(file, 'utf8');
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
}

// fields[0] is field 3 (state); utime, stime, cutime and cstime are fields 14 to 17.
const ticksToSeconds = (fields, from, to) => fields.slice(from, to + 1).reduce((sum, ticks) => sum + Number(ticks), 0) / CLOCK_TICKS_PER_SECOND;

/** User + system CPU seconds of process `pid`, all its threads, 10 ms resolution. */
export function cpuSecondsOf(pid) {
  return ticksToSeconds(statFields(`/proc/${pid}/stat`).fields, 11, 12);
}

/** User + system CPU seconds of this process's reaped children, and theirs (cutime + cstime). */
export function reapedChildrenCpuSeconds() {
  return ticksToSeconds(statFields('/proc/self/stat').fields, 13, 14);
}

/**
 * The threads of process `pid`: id, name, scheduling policy (0 normal,
 * 1 SCHED_FIFO, 2 SCHED_RR) and user + system CPU seconds so far.
 */
export function threadsOf(pid) {
  const threads = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const { comm, fields } = statFields(`/proc/${pid}/task/${tid}/stat`);
      // policy is field 41.
      threads.push({ tid: Number(tid), comm, policy: Number(fields[38]), cpuSeconds: ticksToSeconds(fields, 11, 12) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/** Resident memory now and its high-water mark, in MiB. */
export function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

/** Samples the RSS of `pid` every `everyMs` until stopped; stop() returns the highest. */
export function sampleRss(pid, everyMs = 50) {
  let highestMiB = 0;
  const take = () => {
    try {
      highestMiB = Math.max(highestMiB, memoryOf(pid).rssMiB);
    } catch {
      // The process has exited.
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return () => {
    clearInterval(timer);
    take();
    return highestMiB;
  };
}
