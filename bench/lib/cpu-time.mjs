// CPU time spent, next to wall time: on a busy machine wall time says as
// much about the neighbours as about the tool, CPU time mostly about the tool.
import fs from 'node:fs';

// USER_HZ: the unit of the times in /proc/<pid>/stat; 100 on every Linux ABI
// in use (sysconf(_SC_CLK_TCK), which Node does not expose).
const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU seconds of this process so far, all its threads. */
export function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * User + system CPU seconds of this process's children that have exited and
 * been reaped, including their own reaped children (cutime + cstime). 10 ms
 * resolution.
 */
export function reapedChildrenCpuSeconds() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  // The command name (field 2) may hold spaces; the fields after it are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); cutime and cstime are fields 16 and 17.
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
}
