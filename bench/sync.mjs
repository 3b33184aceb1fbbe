// CPU of streams locked to the wall clock (design §2c, issue 17) against
// plain ones: the same 8 paced streams, played at once on two services,
// plain on one and with ?at= on the other (a locked stream goes through the
// resampler the clock lock steers, at one rate too, where a plain stream of
// the device's format is copied), swapping the services from round to
// round. Each round gives a ratio, and the figure is their median: played
// one after the other, the same work took 0.26-0.87 CPU s a round, as the
// host stalled this VM, and one run said 2.4× where the next said 1.0×.
// Target: ≤ 1.2× the plain streams.
//
// Settings (flag or environment variable):
//   --sync-seconds / BENCH_SYNC_SECONDS   length of each stream (20)
//   --sync-rounds / BENCH_SYNC_ROUNDS     plain/locked pairs (8), swapping the services
import { postAudio } from './lib/http-post.mjs';
import { STREAM_FORMAT } from './lib/paced-streams.mjs';
import { cpuSecondsOf } from './lib/proc.mjs';
import { concurrentRounds } from './lib/rounds.mjs';
import { median } from './lib/stats.mjs';
import { fixed, row } from './lib/report.mjs';
import { startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';
import { wavReadable } from './lib/wav.mjs';

export const name = 'sync';

const STREAMS = 8;
const TARGET_RATIO = 1.2;

async function cpuOf(server, seconds, locked) {
  const before = cpuSecondsOf(server.pid);
  const at = Date.now() + 500;
  const answers = await Promise.all(
    Array.from({ length: STREAMS }, (_, i) =>
      postAudio(server.url, { contentType: 'audio/wav', body: wavReadable({ ...STREAM_FORMAT, seconds }), query: locked ? `?name=locked-${i + 1}&at=${at}` : `?name=plain-${i + 1}` }),
    ),
  );
  // A locked stream's frames are device frames: as many as the source, give
  // or take what the card's drift (none on the clock sink) and the
  // resampler's last fraction of a frame make, less what it skipped to stay
  // on time if its body came late.
  const frames = Math.round(seconds * STREAM_FORMAT.rate);
  for (const answer of answers) {
    const accounted = answer.json.frames + (answer.json.framesSkipped ?? 0);
    if (answer.status !== 200 || Math.abs(accounted - frames) > frames * 1e-4) {
      throw new Error(`a stream answered ${answer.status} ${JSON.stringify(answer.json)}; expected about ${frames} frames played`);
    }
  }
  return cpuSecondsOf(server.pid) - before;
}

export async function run({ log = () => {} } = {}) {
  const seconds = positiveInteger('BENCH_SYNC_SECONDS (--sync-seconds)', readSetting({ flag: 'sync-seconds', env: 'BENCH_SYNC_SECONDS' }) ?? 20);
  const rounds = positiveInteger('BENCH_SYNC_ROUNDS (--sync-rounds)', readSetting({ flag: 'sync-rounds', env: 'BENCH_SYNC_ROUNDS' }) ?? 8);
  const servers = [];
  try {
    for (let i = 0; i < 2; i++) servers.push(await startSpeakerd({ env: { AUDIO_MODE: 'headless', MAX_STREAMS: String(STREAMS) } }));
    // A warm-up of both kinds on each: the JIT's and the resampler's first work is a start-up cost.
    for (const server of servers) {
      await cpuOf(server, 2, false);
      await cpuOf(server, 2, true);
    }
    const [plain, locked] = await concurrentRounds(rounds, servers, (server) => cpuOf(server, seconds, false), (server) => cpuOf(server, seconds, true), (round, p, l) =>
      log(`${name}: round ${round + 1}: plain ${fixed(p, 2)} CPU s, locked ${fixed(l, 2)} CPU s, ${fixed(l / p, 2)}×`));
    for (const server of servers) server.assertAlive();
    const ratios = locked.map((cpu, round) => cpu / plain[round]);
    const ratio = median(ratios);
    const perStream = (cpu) => (cpu / seconds / STREAMS) * 100;
    return {
      rows: [
        row(
          `${STREAMS} paced streams locked to the wall clock (?at=) vs plain, clock sink: service CPU`,
          `${fixed(ratio, 3)}× (median of ${rounds} rounds' ratios; medians ${fixed(perStream(median(locked)), 3)} vs ${fixed(perStream(median(plain)), 3)} % of a core per stream)`,
          `≤ ${TARGET_RATIO}×`,
          ratio <= TARGET_RATIO,
        ),
      ],
      note: `headless, 1024-frame periods, after one 2 s warm-up of each kind on each of two services; ${rounds} rounds of ${STREAMS} concurrent paced POSTs of ${seconds} s stereo 48 kHz WAV (the device's format: a plain stream is copied, a locked one resampled) to each service at once, plain to one and with ?at= 500 ms ahead to the other, swapping them each round; CPU = utime + stime of each service from /proc over the round, the figure the median of the rounds' ratios; per round plain ${plain.map((s) => fixed(s, 2)).join(', ')} s, locked ${locked.map((s) => fixed(s, 2)).join(', ')} s, ratios ${ratios.map((r) => fixed(r, 2)).join(', ')}`,
      json: { streams: STREAMS, seconds, rounds, plainCpuSeconds: plain, lockedCpuSeconds: locked, ratios, ratio, targetRatio: TARGET_RATIO },
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}
