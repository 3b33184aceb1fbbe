// Runs a shell pipeline as one timed job: wall time from spawn to exit, and
// the CPU time of every process in it.
import { reapedChildrenCpuSeconds } from './proc.mjs';
import { spawnTracked } from './children.mjs';

/** Quotes one word for bash. */
export function shellQuote(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${String(word).replaceAll("'", "'\\''")}'`;
}

export const commandLine = (argv) => argv.map(shellQuote).join(' ');

/**
 * Runs `script` under bash with pipefail, so that a failing producer is not
 * hidden by its consumer. Resolves with { seconds, cpuSeconds, stdout };
 * cpuSeconds counts bash and all it started, once they are reaped, so no
 * other child of the bench may exit meanwhile.
 */
export async function runPipeline(script, { env = process.env } = {}) {
  const cpuBefore = reapedChildrenCpuSeconds();
  const started = process.hrtime.bigint();
  const child = spawnTracked('bash', ['-o', 'pipefail', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
  const [code, signal] = await child.exited;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${script}: ${signal ?? `exit code ${code}`}: ${stderr.trim()}`);
  // 'exit' can come before the last of stdout.
  if (!child.stdout.readableEnded) await new Promise((resolve) => child.stdout.once('end', resolve));
  return { seconds, cpuSeconds: reapedChildrenCpuSeconds() - cpuBefore, stdout };
}
