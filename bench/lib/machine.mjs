// What a result was measured on, so that numbers from different machines
// are not compared by accident.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

function cpuModel() {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^model name\s*:/.test(l));
    if (line) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux, or /proc not mounted
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function firstLineOf(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].trim();
  } catch {
    return 'unavailable';
  }
}

export function describeMachine() {
  return {
    cpu: cpuModel(),
    // Like nproc: the CPUs this process may run on, not those installed.
    nproc: os.availableParallelism(),
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    aplay: firstLineOf('aplay', ['--version']),
    // Other work on the machine skews unpaced throughput more than anything
    // else: worth seeing next to the numbers.
    loadAverage: os.loadavg().map((load) => load.toFixed(2)).join(' '),
  };
}

/** The command that produced the results, with the BENCH_* (and the hostile bench's HOSTILE_*) settings it ran under. */
export function describeCommand() {
  const settings = Object.entries(process.env)
    .filter(([name]) => name.startsWith('BENCH_') || name.startsWith('HOSTILE_'))
    .map(([name, value]) => `${name}=${value}`);
  const node = ['node', ...process.execArgv, ...process.argv.slice(1).map((arg) => arg.replace(`${process.cwd()}/`, ''))];
  const viaNpm = process.env.npm_lifecycle_event ? `npm run ${process.env.npm_lifecycle_event} → ` : '';
  return `${viaNpm}${[...settings, ...node].join(' ')}`;
}
