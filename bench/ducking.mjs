// CPU cost of ducking (design §2b, issue 16): 8 paced background streams
// mixed under a 9th stream, twice in one run on one service, alternating:
// once with the 9th a background stream too (plain mixing), once with it an
// announcement (the 8 are ducked by AUDIO_DUCK_DB for their whole length,
// with a ramp at each end). Same streams, same mix; the only difference is
// the duck. Target: ≤ 1.1× the plain mix.
//
// Settings (flag or environment variable):
//   --ducking-seconds / BENCH_DUCKING_SECONDS   length of each stream (20)
//   --ducking-rounds / BENCH_DUCKING_ROUNDS     plain/ducked pairs (4), alternating which goes first
import { playConcurrently } from './lib/paced-streams.mjs';
import { cpuSecondsOf } from './lib/proc.mjs';
import { alternatingRounds } from './lib/rounds.mjs';
import { median } from './lib/stats.mjs';
import { fixed, row } from './lib/report.mjs';
import { startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';

export const name = 'ducking';

const STREAMS = 8;
const TARGET_RATIO = 1.1;

async function cpuOf(server, seconds, ninth) {
  const before = cpuSecondsOf(server.pid);
  await playConcurrently(server.url, {
    count: STREAMS + 1,
    seconds,
    query: (i) => (i === STREAMS ? `?name=over&priority=${ninth}` : `?name=music-${i + 1}&priority=background`),
  });
  return cpuSecondsOf(server.pid) - before;
}

export async function run({ log = () => {} } = {}) {
  const seconds = positiveInteger('BENCH_DUCKING_SECONDS (--ducking-seconds)', readSetting({ flag: 'ducking-seconds', env: 'BENCH_DUCKING_SECONDS' }) ?? 20);
  const rounds = positiveInteger('BENCH_DUCKING_ROUNDS (--ducking-rounds)', readSetting({ flag: 'ducking-rounds', env: 'BENCH_DUCKING_ROUNDS' }) ?? 4);
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless', MAX_STREAMS: String(STREAMS + 1) } });
  try {
    // A warm-up of both kinds: the JIT's work on the body path and the
    // ramps is a start-up cost, not the duck's.
    await cpuOf(server, 2, 'background');
    await cpuOf(server, 2, 'announcement');
    const [plain, ducked] = await alternatingRounds(rounds, () => cpuOf(server, seconds, 'background'), () => cpuOf(server, seconds, 'announcement'), (round, p, d) =>
      log(`${name}: round ${round + 1}: plain ${fixed(p, 2)} CPU s, ducked ${fixed(d, 2)} CPU s`));
    server.assertAlive();
    // Medians: one round in four ran up to twice the others (a GC or the
    // first fill of fresh rings), whichever kind it was.
    const ratio = median(ducked) / median(plain);
    const perStream = (cpu) => (cpu / seconds / (STREAMS + 1)) * 100;
    return {
      rows: [
        row(
          `${STREAMS} paced streams ducked under an announcement vs mixed plain, clock sink: service CPU`,
          `${fixed(ratio, 3)}× (medians: ${fixed(perStream(median(ducked)), 3)} vs ${fixed(perStream(median(plain)), 3)} % of a core per stream)`,
          `≤ ${TARGET_RATIO}×`,
          ratio <= TARGET_RATIO,
        ),
      ],
      note: `headless, 1024-frame periods, after one 2 s warm-up of each; ${rounds} rounds (alternating which goes first) of ${STREAMS} + 1 concurrent paced POSTs of ${seconds} s stereo 48 kHz WAV, alternating: the 9th ?priority=background (plain) or announcement (the 8 ducked by -20 dB); CPU = utime + stime of the service from /proc over each round, ratio of the medians; per round plain ${plain.map((s) => fixed(s, 2)).join(', ')} s, ducked ${ducked.map((s) => fixed(s, 2)).join(', ')} s`,
      json: { streams: STREAMS, seconds, rounds, plainCpuSeconds: plain, duckedCpuSeconds: ducked, ratio, targetRatio: TARGET_RATIO },
    };
  } finally {
    await server.stop();
  }
}
