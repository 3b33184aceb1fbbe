// wrk, the HTTP load generator: keep-alive connections sending GETs as fast
// as the server answers them.
import { spawnTracked } from './children.mjs';
import { setupError } from './settings.mjs';

export const WRK_MISSING_MESSAGE = 'wrk not found: apt-get install wrk (scripts/setup.sh installs it)';

/** Throws a setup error unless wrk runs. */
export async function checkWrk() {
  const child = spawnTracked('wrk', ['--version'], { stdio: 'ignore' });
  try {
    await child.exited;
  } catch {
    throw setupError(WRK_MISSING_MESSAGE);
  }
}

const DURATION_UNITS = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

function seconds(text) {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  return match ? Number(match[1]) * DURATION_UNITS[match[2]] : NaN;
}

/** The figures of wrk's report; NaN or 0 for what it did not print. */
export function parseWrkReport(text) {
  const latency = /^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(text);
  const totals = /(\d+) requests in (\S+),/.exec(text);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: totals ? Number(totals[1]) : NaN,
    seconds: totals ? seconds(totals[2]) : NaN,
    requestsPerSecond: rate ? Number(rate[1]) : NaN,
    latencyAvgMs: latency ? seconds(latency[1]) * 1000 : NaN,
    latencyMaxMs: latency ? seconds(latency[3]) * 1000 : NaN,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: socketErrors ? { connect: Number(socketErrors[1]), read: Number(socketErrors[2]), write: Number(socketErrors[3]), timeout: Number(socketErrors[4]) } : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

/** Starts `wrk -t<threads> -c<connections> -d<seconds>s <url>`; returns { pid, done }, done resolving with its parsed report. */
export function startWrk(url, { threads, connections, seconds: duration }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, url];
  const child = spawnTracked('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
  const done = child.exited.then(async ([code, signal]) => {
    if (!child.stdout.readableEnded) await new Promise((resolve) => child.stdout.once('end', resolve));
    if (code !== 0) throw new Error(`wrk ${args.join(' ')}: ${signal ?? `exit code ${code}`}: ${stderr.trim()}`);
    return { command: `wrk ${args.join(' ')}`, ...parseWrkReport(stdout) };
  });
  done.catch(() => {});
  return { pid: child.pid, done };
}
