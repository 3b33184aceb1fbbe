// CPU cost of playback: 8 paced stereo 48 kHz streams mixed into the
// headless clock sink for 30 s. The service's user + system time (all its
// threads, read from /proc) over that window, per stream and per second of
// audio; design §8: ≤ 0.5 % of one core per stream.
//
// Settings (flag or environment variable):
//   --cpu-seconds / BENCH_CPU_SECONDS   length of each stream (30)
import { playConcurrently } from './lib/paced-streams.mjs';
import { cpuSecondsOf, threadsOf } from './lib/proc.mjs';
import { fixed, row } from './lib/report.mjs';
import { startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';

export const name = 'cpu';

const STREAMS = 8;
const TARGET_PERCENT = 0.5;

/**
 * CPU seconds between two threadsOf() readings, by role. Every thread of a
 * Node process is called "node"; the main thread is the one whose id is
 * the pid, and the playback thread the one running SCHED_FIFO.
 */
function cpuByRole(pid, before, after) {
  const byRole = { 'JS main thread': 0, 'playback thread': 0, 'other threads': 0 };
  for (const thread of after) {
    const spent = thread.cpuSeconds - (before.find((t) => t.tid === thread.tid)?.cpuSeconds ?? 0);
    const role = thread.tid === pid ? 'JS main thread' : thread.policy === 1 ? 'playback thread' : 'other threads';
    byRole[role] += spent;
  }
  return byRole;
}

export async function run({ log = () => {} } = {}) {
  const seconds = positiveInteger('BENCH_CPU_SECONDS (--cpu-seconds)', readSetting({ flag: 'cpu-seconds', env: 'BENCH_CPU_SECONDS' }) ?? 30);
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless' } });
  try {
    // One short stream first: the JIT's work on the body path is a start-up cost, not a per-stream one.
    await playConcurrently(server.url, { count: 1, seconds: 1 });
    const threadsBefore = threadsOf(server.pid);
    const cpuBefore = cpuSecondsOf(server.pid);
    const started = process.hrtime.bigint();
    await playConcurrently(server.url, { count: STREAMS, seconds });
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuSeconds = cpuSecondsOf(server.pid) - cpuBefore;
    const byRole = cpuByRole(server.pid, threadsBefore, threadsOf(server.pid));
    server.assertAlive();

    const percentPerStream = (cpuSeconds / seconds / STREAMS) * 100;
    const threadText = Object.entries(byRole).map(([role, s]) => `${role} ${fixed((s / seconds / STREAMS) * 100, 2)} %`).join(', ');
    log(`${name}: ${fixed(cpuSeconds, 2)} CPU s over ${fixed(wallSeconds, 1)} s: ${fixed(percentPerStream, 2)} % per stream (${threadText})`);
    return {
      rows: [
        row(
          `${STREAMS} paced streams × ${seconds} s, clock sink: service CPU per stream`,
          `${fixed(percentPerStream, 2)} % of a core (${fixed(cpuSeconds, 2)} CPU s in all)`,
          `≤ ${TARGET_PERCENT} %`,
          percentPerStream <= TARGET_PERCENT,
        ),
      ],
      note:
      `headless, 1024-frame periods, LOG_LEVEL=info; ${STREAMS} concurrent POSTs of ${seconds} s stereo 48 kHz WAV (the device format: no conversion), generated in 64 KiB pieces; CPU = utime + stime of the service from /proc/PID/stat over the ${fixed(wallSeconds, 1)} s until the last answer, ÷ ${seconds} s ÷ ${STREAMS}; per stream by thread (the playback thread is the SCHED_FIFO one): ${threadText}`,
      json: { streams: STREAMS, seconds, wallSeconds, cpuSeconds, percentPerStream, targetPercent: TARGET_PERCENT, cpuSecondsByThread: byRole },
    };
  } finally {
    await server.stop();
  }
}
