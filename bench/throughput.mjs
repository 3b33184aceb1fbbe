// Unpaced throughput: how fast speakerd's engine moves a WAV's audio into an
// ALSA PCM that consumes it instantly, against Debian's aplay piping the same
// WAV into the same PCM. Both sides are timed in the same run, alternating,
// so that machine noise hits both alike; the median of the runs is reported.
//
// Settings (flag or environment variable):
//   --mb / BENCH_MB                  MiB of audio in the test WAV (512)
//   --runs / BENCH_RUNS              measurements per PCM and tool (3)
//   --ring-frames / BENCH_RING_FRAMES  speakerd ring size in frames (default: the engine's default)
import fs from 'node:fs';
import path from 'node:path';

import { APLAY_MISSING_MESSAGE, aplayCommandLine, findAplay, playThroughAplay } from './lib/aplay-player.mjs';
import { BENCH_PCMS, aplayConfigText } from './lib/pcms.mjs';
import { positiveInteger, readSetting, setupError } from './lib/settings.mjs';
import { engineAlsaLibVersion, playThroughSpeakerd } from './lib/speakerd-player.mjs';
import { withTempDir } from './lib/temp-dir.mjs';
import { WAV_HEADER_BYTES, writeTestWav } from './lib/wav.mjs';

export const name = 'throughput';

const MIB = 1024 * 1024;
const FORMAT = { format: 'S16_LE', rate: 48000, channels: 2, periodFrames: 1024, periods: 4 };
const FRAME_BYTES = 2 * FORMAT.channels;
const READ_CHUNK_BYTES = MIB;
const WARM_UP_BYTES = 64 * MIB;

function readThroughputSettings() {
  const mb = readSetting({ flag: 'mb', env: 'BENCH_MB' });
  const runs = readSetting({ flag: 'runs', env: 'BENCH_RUNS' });
  const ring = readSetting({ flag: 'ring-frames', env: 'BENCH_RING_FRAMES' });
  return {
    // A WAV's sizes are 32-bit: at most 4 GiB minus the header.
    dataBytes: positiveInteger('BENCH_MB (--mb)', mb ?? 512, 4095) * MIB,
    runs: positiveInteger('BENCH_RUNS (--runs)', runs ?? 3),
    // Unset or "default": the engine's own default ring, as a user gets it.
    ringFrames: ring === undefined || ring === 'default' ? undefined : positiveInteger('BENCH_RING_FRAMES (--ring-frames)', ring),
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const megabytesPerSecond = (bytes, seconds) => bytes / 1e6 / seconds;

/** Times every (PCM, tool) pair `runs` times: speakerd then aplay, PCM after PCM, run after run. */
async function measure({ settings, wavPath, configPath, aplayPath, log }) {
  const speakerdJob = {
    wavPath,
    dataOffset: WAV_HEADER_BYTES,
    dataBytes: settings.dataBytes,
    format: FORMAT,
    ringFrames: settings.ringFrames,
    readChunkBytes: READ_CHUNK_BYTES,
  };
  const samples = new Map(BENCH_PCMS.flatMap((pcm) => [[`${pcm.label}/speakerd`, []], [`${pcm.label}/aplay`, []]]));
  // One untimed pass first, so that run 1 does not also pay for JIT
  // compilation of the write path and the first touch of fresh memory, which
  // a long-running speakerd has long paid. aplay starts cold every time anyway.
  await playThroughSpeakerd({ ...speakerdJob, dataBytes: Math.min(WARM_UP_BYTES, settings.dataBytes), pcm: BENCH_PCMS[0] });
  let ringCapacityFrames;
  for (let run = 1; run <= settings.runs; run++) {
    for (const pcm of BENCH_PCMS) {
      // Collect the previous run's garbage now rather than inside the timing.
      globalThis.gc?.();
      const speakerd = await playThroughSpeakerd({ ...speakerdJob, pcm });
      ringCapacityFrames = speakerd.ringCapacityFrames;
      const aplay = await playThroughAplay({ aplayPath, wavPath, pcmName: pcm.name, configPath });
      samples.get(`${pcm.label}/speakerd`).push(speakerd);
      samples.get(`${pcm.label}/aplay`).push(aplay);
      const rate = (s) => megabytesPerSecond(settings.dataBytes, s).toFixed(0);
      log(`${name}: run ${run}/${settings.runs} ${pcm.label}: speakerd ${rate(speakerd.seconds)} MB/s, aplay ${rate(aplay.seconds)} MB/s`);
    }
  }
  return { samples, ringCapacityFrames };
}

function summarise(settings, samples) {
  const audioSeconds = settings.dataBytes / FRAME_BYTES / FORMAT.rate;
  const results = [];
  const ratios = {};
  for (const pcm of BENCH_PCMS) {
    const byTool = {};
    for (const tool of ['speakerd', 'aplay']) {
      const runs = samples.get(`${pcm.label}/${tool}`);
      const seconds = runs.map((sample) => sample.seconds);
      const cpuSeconds = runs.map((sample) => sample.cpuSeconds);
      const medianSeconds = median(seconds);
      byTool[tool] = {
        pcm: pcm.label,
        pcmName: pcm.name,
        tool,
        seconds,
        cpuSeconds,
        medianSeconds,
        medianCpuSeconds: median(cpuSeconds),
        mbPerSecond: megabytesPerSecond(settings.dataBytes, medianSeconds),
        timesRealTime: audioSeconds / medianSeconds,
      };
      results.push(byTool[tool]);
    }
    ratios[pcm.label] = byTool.speakerd.mbPerSecond / byTool.aplay.mbPerSecond;
  }
  return { audioSeconds, results, ratios };
}

const COLUMNS = [
  { key: 'pcm', title: 'PCM' },
  { key: 'tool', title: 'tool' },
  { key: 'mbPerSecond', title: 'MB/s', align: 'right' },
  { key: 'timesRealTime', title: '× real time', align: 'right' },
  { key: 'runs', title: 'runs (MB/s)', align: 'right' },
  { key: 'cpu', title: 'CPU ms', align: 'right' },
  { key: 'ratio', title: 'speakerd/aplay', align: 'right' },
];

function tableRows(settings, summary) {
  return summary.results.map((result) => ({
    pcm: result.pcm,
    tool: result.tool,
    mbPerSecond: result.mbPerSecond.toFixed(0),
    timesRealTime: `${result.timesRealTime.toFixed(0)}×`,
    runs: result.seconds.map((s) => megabytesPerSecond(settings.dataBytes, s).toFixed(0)).join(' / '),
    cpu: (result.medianCpuSeconds * 1000).toFixed(0),
    ratio: result.tool === 'speakerd' ? summary.ratios[result.pcm].toFixed(2) : '',
  }));
}

function notes({ settings, summary, ringCapacityFrames, aplayExample }) {
  const missed = Object.entries(summary.ratios).filter(([, ratio]) => ratio < 1).map(([pcm]) => pcm);
  const ring = settings.ringFrames === undefined ? 'engine default' : `ringFrames ${settings.ringFrames}`;
  return [
    `data: ${settings.dataBytes / MIB} MiB of ${FORMAT.format} ${FORMAT.rate} Hz ${FORMAT.channels} ch (${summary.audioSeconds.toFixed(1)} s of audio); median of ${settings.runs} run${settings.runs === 1 ? '' : 's'}, speakerd and aplay alternating`,
    `speakerd (alsa-lib ${engineAlsaLibVersion}): underrun 'wait', ${FORMAT.periods} × ${FORMAT.periodFrames}-frame periods, ${ring} (ring holds ${ringCapacityFrames} frames), ${READ_CHUNK_BYTES / MIB} MiB reads into two reused buffers → writeAll; timed from first read to done`,
    `aplay: ${aplayExample}; timed from spawn to exit`,
    'MB = 10^6 bytes of audio data; × real time = audio seconds / wall seconds; CPU ms = median user+system time of all threads and processes involved',
    missed.length === 0 ? 'target speakerd/aplay ≥ 1.0: met on every PCM' : `target speakerd/aplay ≥ 1.0: MISSED on ${missed.join(', ')}`,
  ];
}

/** Runs the bench; `log` gets progress lines. Resolves with table rows, notes and the JSON record. */
export async function run({ log = () => {} } = {}) {
  const aplayPath = findAplay();
  if (!aplayPath) throw setupError(APLAY_MISSING_MESSAGE);
  const settings = readThroughputSettings();

  return withTempDir('speakerd-bench-', async (dir) => {
    const wavPath = path.join(dir, 'throughput.wav');
    const configPath = path.join(dir, 'asound.conf');
    log(`${name}: writing ${settings.dataBytes / MIB} MiB test WAV to ${wavPath}`);
    await writeTestWav(wavPath, { rate: FORMAT.rate, channels: FORMAT.channels, dataBytes: settings.dataBytes });
    fs.writeFileSync(configPath, aplayConfigText());

    const { samples, ringCapacityFrames } = await measure({ settings, wavPath, configPath, aplayPath, log });
    const summary = summarise(settings, samples);
    const aplayCommands = Object.fromEntries(BENCH_PCMS.map((pcm) => [pcm.label, aplayCommandLine({ wavPath, pcmName: pcm.name, configPath })]));
    const aplayExample = `${aplayCommands[BENCH_PCMS[0].label]} (-D ${BENCH_PCMS.slice(1).map((pcm) => pcm.name).join(', ')} likewise)`;
    return {
      columns: COLUMNS,
      rows: tableRows(settings, summary),
      notes: notes({ settings, summary, ringCapacityFrames, aplayExample }),
      json: {
        settings: {
          dataBytes: settings.dataBytes,
          frames: settings.dataBytes / FRAME_BYTES,
          audioSeconds: summary.audioSeconds,
          runs: settings.runs,
          device: { ...FORMAT, underrun: 'wait' },
          ringFramesRequested: settings.ringFrames ?? 'default',
          ringCapacityFrames,
          readChunkBytes: READ_CHUNK_BYTES,
          engineAlsaLibVersion,
        },
        pcms: BENCH_PCMS,
        aplayCommands,
        units: {
          mbPerSecond: '10^6 bytes of audio data per wall-clock second',
          timesRealTime: 'audio seconds / wall seconds',
          cpuSeconds: 'user + system CPU seconds: the bench process for speakerd, bash + cat + aplay for aplay',
        },
        results: summary.results,
        ratios: summary.ratios,
      },
    };
  });
}
