// Robustness: 8 paced streams for 60 s at 256-frame periods (5.3 ms; 4 of
// them, a 21 ms buffer, with SCHED_FIFO, and 80 ms without) into the headless
// clock sink while busy loops load every core; design §8: zero device xruns. Run twice: with the playback thread
// on SCHED_FIFO (root, as here) and without (CAP_SYS_NICE dropped and
// RLIMIT_RTPRIO 0: what the DaemonSet, which drops all capabilities, gets).
//
// Settings (flag or environment variable):
//   --xrun-seconds / BENCH_XRUN_SECONDS   length of each run (60)
import { startCpuHogs } from './lib/cpu-hog.mjs';
import { playConcurrently } from './lib/paced-streams.mjs';
import { fixed, row } from './lib/report.mjs';
import { startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';

export const name = 'xruns';

const STREAMS = 8;
const PERIOD_FRAMES = 256;
const CASES = [
  { label: 'SCHED_FIFO granted', wrapper: [], expectRealtime: true },
  {
    label: 'SCHED_FIFO refused',
    // setpriv and prlimit both exec their command: the pid stays the server's.
    wrapper: ['setpriv', '--bounding-set=-sys_nice', '--inh-caps=-sys_nice', 'prlimit', '--rtprio=0', '--'],
    expectRealtime: false,
  },
];

async function deviceState(url) {
  const response = await fetch(`${url}/v1/device`);
  return response.json();
}

async function measure(testCase, seconds, log) {
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless', AUDIO_PERIOD_FRAMES: String(PERIOD_FRAMES) }, wrapper: testCase.wrapper });
  let stopHogs = async () => {};
  try {
    // The playback thread asks for SCHED_FIFO as it starts; its verdict is logged either way.
    const verdict = await server.waitForLog((e) => e.source === 'playback' && /SCHED_FIFO/.test(String(e.msg)));
    const before = await deviceState(server.url);
    if (before.realtime !== testCase.expectRealtime) {
      throw new Error(`${testCase.label}: /v1/device says realtime ${before.realtime}; the log: ${verdict.msg}`);
    }
    stopHogs = await startCpuHogs();
    const answers = await playConcurrently(server.url, { count: STREAMS, seconds });
    await stopHogs();
    server.assertAlive();
    const after = await deviceState(server.url);
    const xruns = after.xruns - before.xruns;
    const xrunLogLines = server.logs.filter((e) => e.msg === 'device xrun').length;
    const underruns = answers.reduce((sum, a) => sum + a.json.underruns, 0);
    log(`${name}: ${testCase.label}: ${xruns} xruns (${xrunLogLines} "device xrun" log lines), ${underruns} stream underruns`);
    const buffer = `${after.format.bufferFrames / after.format.periodFrames} × ${after.format.periodFrames} frames (${fixed((after.format.bufferFrames / after.format.rate) * 1000, 1)} ms)`;
    return { label: testCase.label, realtime: after.realtime, schedulerLog: verdict.msg, buffer, xruns, xrunLogLines, underruns, underrunsPerStream: answers.map((a) => a.json.underruns) };
  } finally {
    await stopHogs();
    await server.stop();
  }
}

export async function run({ log = () => {} } = {}) {
  const seconds = positiveInteger('BENCH_XRUN_SECONDS (--xrun-seconds)', readSetting({ flag: 'xrun-seconds', env: 'BENCH_XRUN_SECONDS' }) ?? 60);
  const results = [];
  for (const testCase of CASES) results.push(await measure(testCase, seconds, log));
  return {
    rows: results.map((r) =>
      row(`${r.label}, buffer ${r.buffer}: device xruns / stream underruns, ${STREAMS} streams × ${seconds} s, cores loaded`, `${r.xruns} / ${r.underruns}`, '0 xruns', r.xruns === 0),
    ),
    note:
      `headless, ${PERIOD_FRAMES}-frame periods (AUDIO_PERIODS=4; without SCHED_FIFO speakerd deepens the buffer to at least 80 ms), 48 kHz; one \`node -e 'for (;;) {}'\` per core from before the streams until they end; ${STREAMS} concurrent POSTs of ${seconds} s stereo WAV; ` +
      `xruns = the change in /v1/device's xruns (equal to the "device xrun" log lines: ${results.map((r) => r.xrunLogLines).join(', ')}), underruns summed from the answers; ` +
      `"refused" runs the service under setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice prlimit --rtprio=0; checked by /v1/device's realtime and the playback thread's log line: ${results.map((r) => `"${r.schedulerLog}"`).join(' / ')}`,
    json: { streams: STREAMS, seconds, periodFrames: PERIOD_FRAMES, results },
  };
}
