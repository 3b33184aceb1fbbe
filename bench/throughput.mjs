// Unpaced throughput over HTTP: curl POSTs a large generated WAV to the
// running service, which plays it into a PCM that consumes instantly; aplay
// gets the very same bytes from the very same generator into the same PCM.
// A bare node:http server that only counts the same body is the third: what
// any Node HTTP service pays before it does anything with the bytes. All are
// timed in the same run, alternating, so that machine noise hits them alike;
// medians are reported, with two ratios: speakerd / aplay (design §8: ≥ 1.0)
// and speakerd / the bare server (issue 14: ≥ 0.9). The fourth, the ring
// floor, is that bare server writing each chunk into speakerd's own native
// ring on the same PCM: the least any service on this engine pays, so
// speakerd / ring floor is what speakerd's own JavaScript costs.
//
// Settings (flag or environment variable):
//   --mb / BENCH_MB        MiB of audio per body (1024)
//   --runs / BENCH_RUNS    measurements per PCM and tool (3)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { APLAY_MISSING_MESSAGE, aplayCommandLine, findAplay, playThroughAplay } from './lib/aplay-player.mjs';
import { curlCommandLine, postThroughCurl } from './lib/curl-uploader.mjs';
import { BENCH_PCMS, aplayConfigText } from './lib/pcms.mjs';
import { commandLine, runPipeline } from './lib/pipeline.mjs';
import { cpuSecondsOf } from './lib/proc.mjs';
import { fixed, row } from './lib/report.mjs';
import { startPeer, startSpeakerd, unpacedDeviceEnv } from './lib/service.mjs';
import { positiveInteger, readSetting, setupError } from './lib/settings.mjs';
import { median } from './lib/stats.mjs';
import { withTempDir } from './lib/temp-dir.mjs';
import { DRAIN, prepareWavSource } from './lib/wav-source.mjs';
import { WAV_HEADER_BYTES } from './lib/wav.mjs';

export const name = 'throughput';

const MIB = 1024 * 1024;
const FORMAT = { rate: 48000, channels: 2 };
const FRAME_BYTES = 2 * FORMAT.channels;
const WARM_UP_BYTES = 64 * MIB;
const TARGET_RATIO = 1.0;
const TARGET_HTTP_RATIO = 0.9;
const HTTP_SINK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'http-sink.cjs');
const RING_SINK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'ring-sink.cjs');

function readSettings() {
  return {
    // A streaming WAV has no size limit, but staying under what a sized
    // WAV's 32-bit fields can declare keeps any reader's arithmetic safe.
    dataBytes: positiveInteger('BENCH_MB (--mb)', readSetting({ flag: 'mb', env: 'BENCH_MB' }) ?? 1024, 4095) * MIB,
    runs: positiveInteger('BENCH_RUNS (--runs)', readSetting({ flag: 'runs', env: 'BENCH_RUNS' }) ?? 3),
  };
}

const megabytesPerSecond = (bytes, seconds) => bytes / 1e6 / seconds;

/** The source's own ceiling: into a drain that moves pages without touching them, and into cat, which copies like any real reader. */
async function measureSource(source, dataBytes) {
  const alone = await runPipeline(`${commandLine(source)} | ${commandLine(['python3', DRAIN])}`);
  const intoCat = await runPipeline(`${commandLine(source)} | cat > /dev/null`);
  return { aloneMbPerSecond: megabytesPerSecond(dataBytes, alone.seconds), intoCatMbPerSecond: megabytesPerSecond(dataBytes, intoCat.seconds) };
}

/**
 * Times one curl upload into `server` (speakerd, or the HTTP sink), with
 * the server's CPU; `check` throws unless its answer accounts for every byte.
 */
async function timeUpload(server, source, check) {
  server.assertAlive?.();
  const cpuBefore = cpuSecondsOf(server.pid);
  const { seconds, cpuSeconds, answer } = await postThroughCurl({ source, url: server.url });
  server.assertAlive?.();
  const serverCpuSeconds = cpuSecondsOf(server.pid) - cpuBefore;
  check(answer);
  return { seconds, cpuSeconds: cpuSeconds + serverCpuSeconds, serverCpuSeconds };
}

const playedAll = (dataBytes) => (answer) => {
  if (answer.frames !== dataBytes / FRAME_BYTES || answer.truncated) throw new Error(`speakerd played ${JSON.stringify(answer)}, expected ${dataBytes / FRAME_BYTES} frames`);
};

const countedAll = (dataBytes) => (answer) => {
  if (answer.bytes !== WAV_HEADER_BYTES + dataBytes) throw new Error(`the HTTP sink counted ${answer.bytes} bytes, expected ${WAV_HEADER_BYTES + dataBytes}`);
};

export async function run({ log = () => {} } = {}) {
  const aplayPath = findAplay();
  if (!aplayPath) throw setupError(APLAY_MISSING_MESSAGE);
  const settings = readSettings();

  return withTempDir('speakerd-bench-', async (dir) => {
    const configPath = path.join(dir, 'asound.conf');
    fs.writeFileSync(configPath, aplayConfigText());
    const wavSource = prepareWavSource(dir, FORMAT);
    const source = wavSource(settings.dataBytes);
    const warmUpSource = wavSource(WARM_UP_BYTES);

    const sourceSpeed = await measureSource(source, settings.dataBytes);
    log(`${name}: source alone ${fixed(sourceSpeed.aloneMbPerSecond, 0)} MB/s, into cat ${fixed(sourceSpeed.intoCatMbPerSecond, 0)} MB/s`);

    // One server per PCM, started before any timing: the figure is what a
    // running service sustains, not its start-up.
    const servers = new Map();
    const floors = new Map();
    let sink;
    try {
      sink = await startPeer(HTTP_SINK);
      await postThroughCurl({ source: warmUpSource, url: sink.url });
      for (const pcm of BENCH_PCMS) {
        const server = await startSpeakerd({ env: unpacedDeviceEnv(pcm) });
        servers.set(pcm.label, server);
        // So that run 1 does not also pay for the JIT compiling the body path.
        await postThroughCurl({ source: warmUpSource, url: server.url });
        const floor = await startPeer(RING_SINK, { env: unpacedDeviceEnv(pcm) });
        floors.set(pcm.label, floor);
        await postThroughCurl({ source: warmUpSource, url: floor.url });
      }
      const samples = Object.fromEntries(BENCH_PCMS.map((pcm) => [pcm.label, { speakerd: [], aplay: [], floor: [] }]));
      samples.httpSink = [];
      for (let run = 1; run <= settings.runs; run++) {
        samples.httpSink.push(await timeUpload(sink, source, countedAll(settings.dataBytes)));
        for (const pcm of BENCH_PCMS) {
          globalThis.gc?.();
          const speakerd = await timeUpload(servers.get(pcm.label), source, playedAll(settings.dataBytes));
          const floor = await timeUpload(floors.get(pcm.label), source, playedAll(settings.dataBytes));
          const aplay = await playThroughAplay({ aplayPath, source, pcmName: pcm.name, configPath });
          samples[pcm.label].speakerd.push(speakerd);
          samples[pcm.label].floor.push(floor);
          samples[pcm.label].aplay.push(aplay);
          const rate = (s) => fixed(megabytesPerSecond(settings.dataBytes, s.seconds), 0);
          log(
            `${name}: run ${run}/${settings.runs} ${pcm.label}: speakerd ${rate(speakerd)} MB/s, ring floor ${rate(floor)} MB/s, aplay ${rate(aplay)} MB/s (HTTP ceiling ${rate(samples.httpSink.at(-1))} MB/s)`,
          );
        }
      }
      return report({ settings, samples, sourceSpeed, aplayPath, source, configPath, servers });
    } finally {
      for (const server of [...servers.values(), ...floors.values()]) await server.stop();
      await sink?.stop();
    }
  });
}

/** Median speed and CPU of a set of timed runs. */
function summarise(runs, dataBytes) {
  const seconds = median(runs.map((r) => r.seconds));
  return {
    runsMbPerSecond: runs.map((r) => megabytesPerSecond(dataBytes, r.seconds)),
    mbPerSecond: megabytesPerSecond(dataBytes, seconds),
    timesRealTime: dataBytes / FRAME_BYTES / FORMAT.rate / seconds,
    medianCpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    ...(runs[0].serverCpuSeconds === undefined ? {} : { medianServerCpuSeconds: median(runs.map((r) => r.serverCpuSeconds)) }),
  };
}

function report({ settings, samples, sourceSpeed, aplayPath, source, configPath, servers }) {
  const summary = { httpSink: summarise(samples.httpSink, settings.dataBytes) };
  for (const pcm of BENCH_PCMS) {
    const speakerd = summarise(samples[pcm.label].speakerd, settings.dataBytes);
    const aplay = summarise(samples[pcm.label].aplay, settings.dataBytes);
    const floor = summarise(samples[pcm.label].floor, settings.dataBytes);
    summary[pcm.label] = {
      speakerd,
      aplay,
      floor,
      ratio: speakerd.mbPerSecond / aplay.mbPerSecond,
      httpRatio: speakerd.mbPerSecond / summary.httpSink.mbPerSecond,
      floorRatio: speakerd.mbPerSecond / floor.mbPerSecond,
      floorHttpRatio: floor.mbPerSecond / summary.httpSink.mbPerSecond,
    };
  }

  const speed = (s) =>
    `${fixed(s.mbPerSecond, 0)} MB/s = ${fixed(s.timesRealTime, 0)}× real time, ${fixed(s.medianCpuSeconds, 2)} CPU s (runs: ${s.runsMbPerSecond.map((v) => fixed(v, 0)).join(' / ')})`;
  const rows = [
    row('source alone: generator | splice to /dev/null', `${fixed(sourceSpeed.aloneMbPerSecond, 0)} MB/s (into cat > /dev/null: ${fixed(sourceSpeed.intoCatMbPerSecond, 0)} MB/s)`),
    row('HTTP ceiling: same curl POST into a bare node:http', speed(summary.httpSink)),
  ];
  for (const pcm of BENCH_PCMS) {
    const s = summary[pcm.label];
    rows.push(row(`${pcm.label} PCM: speakerd (curl POST)`, speed(s.speakerd)));
    rows.push(row(`${pcm.label} PCM: ring floor (bare node:http + speakerd's native ring)`, speed(s.floor)));
    rows.push(row(`${pcm.label} PCM: aplay (same bytes, same PCM)`, speed(s.aplay)));
    rows.push(row(`${pcm.label} PCM: speakerd / aplay`, fixed(s.ratio, 2), `≥ ${fixed(TARGET_RATIO, 1)}`, s.ratio >= TARGET_RATIO));
    rows.push(row(`${pcm.label} PCM: speakerd / bare node:http (HTTP ceiling)`, fixed(s.httpRatio, 2), `≥ ${fixed(TARGET_HTTP_RATIO, 1)}`, s.httpRatio >= TARGET_HTTP_RATIO));
    rows.push(row(`${pcm.label} PCM: speakerd / ring floor (ring floor / HTTP ceiling)`, `${fixed(s.floorRatio, 2)} (${fixed(s.floorHttpRatio, 2)})`));
  }
  const serverCpu = [
    ...BENCH_PCMS.flatMap((pcm) => [
      [pcm.label, summary[pcm.label].speakerd],
      [`${pcm.label} ring floor`, summary[pcm.label].floor],
    ]),
    ['HTTP ceiling', summary.httpSink],
  ]
    .map(([label, s]) => `${label} ${fixed(s.medianServerCpuSeconds, 2)} s`)
    .join(', ');
  const commands = {
    speakerd: curlCommandLine({ source, url: servers.get(BENCH_PCMS[0].label).url }),
    aplay: BENCH_PCMS.map((pcm) => aplayCommandLine({ aplayPath, source, pcmName: pcm.name, configPath })),
  };
  return {
    rows,
    note:
      `${settings.dataBytes / MIB} MiB of S16_LE ${FORMAT.rate} Hz stereo per body: a streaming WAV header, then a 1 MiB sine pattern spliced again and again into a 1 MiB pipe (lib/splice-wav.py), never stored; ` +
      `speakerd = source | curl -T - -X POST into the running service (AUDIO_MODE=device, AUDIO_UNDERRUN=wait, 4 × 1024-frame periods, warmed up with ${WARM_UP_BYTES / MIB} MiB); ` +
      'HTTP ceiling = the same into lib/http-sink.cjs (counts and drops the body); ring floor = the same into lib/ring-sink.cjs (node:http writing each chunk into a native stream of the same PCM); aplay = source | ALSA_CONFIG_PATH=<PCM definitions> aplay -q -D <PCM>; ' +
      `alternating, median of ${settings.runs}, each timed from spawn to exit of the whole pipeline; MB = 10^6 bytes; CPU s = all processes of the job, of which the server: ${serverCpu}`,
    json: { settings: { ...settings, format: FORMAT, warmUpBytes: WARM_UP_BYTES }, pcms: BENCH_PCMS, commands, sourceSpeed, summary, samples },
  };
}
