// Compressed bodies (design §2a; the targets are issue 15's): FLAC, Ogg
// Opus, Ogg Vorbis and MP3, each stream decoded natively on a thread of its
// own. The fixtures are made as the bench starts, by the reference encoders
// (lib/compressed-fixtures.mjs), into a temporary directory.
//
//   decode speed  each codec's file POSTed into an unpaced null PCM, timed
//                 from the request's start to its answer, against the
//                 reference decoder decoding the same file to nothing,
//                 alternating in the same run: speakerd / reference ≥ 0.9
//   event loop    while 8 uploads (2 per codec) run unpaced, again and again:
//                 the event loop's delay inside the service ≤ 5 ms at p99,
//                 from Node's monitorEventLoopDelay preloaded into it
//                 (lib/loop-delay-probe.cjs), with how long its JS thread
//                 waited for a CPU. Beside it, /livez as a client sees it (a
//                 worker thread GETs it on a new connection every 20 ms, as
//                 the hostile bench does): that adds a TCP handshake and the
//                 bench's own scheduling, whose floor the same probes with
//                 nothing playing show
//   CPU           8 paced Opus streams into the clock sink, measured as the
//                 cpu bench measures WAV: ≤ 1 % of a core per stream; the
//                 same audio as WAV beside it, alternating
//   memory        8 paced compressed streams (2 per codec), VmHWM as the
//                 memory bench reads it: ≤ 90 MiB; 8 WAV streams beside it
//
// Settings (flag or environment variable):
//   --compressed-seconds / BENCH_COMPRESSED_SECONDS          length of the decode-speed files, also uploaded during the event-loop figure (60)
//   --compressed-runs / BENCH_COMPRESSED_RUNS                decode-speed rounds, each timing every codec both ways (5)
//   --compressed-lag-seconds / BENCH_COMPRESSED_LAG_SECONDS  length of the event-loop measurement, and of its control (10)
//   --compressed-cpu-seconds / BENCH_COMPRESSED_CPU_SECONDS  length of each paced stream of the CPU figure (20)
//   --compressed-memory-seconds / BENCH_COMPRESSED_MEMORY_SECONDS  length of each paced stream of the memory figure (10)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { CODECS, checkReferenceTools, makeFixtures } from './lib/compressed-fixtures.mjs';
import { postAudio } from './lib/http-post.mjs';
import { BENCH_PCMS } from './lib/pcms.mjs';
import { runPipeline } from './lib/pipeline.mjs';
import { observe } from './lib/probe-thread.mjs';
import { cpuSecondsOf, memoryOf, sampleRss, threadsOf } from './lib/proc.mjs';
import { fixed, row } from './lib/report.mjs';
import { SHIPPED_PROCESS_ENV, startSpeakerd, unpacedDeviceEnv } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';
import { median, percentile } from './lib/stats.mjs';
import { withTempDir } from './lib/temp-dir.mjs';

export const name = 'compressed';

const TARGET_SPEED_RATIO = 0.9;
const TARGET_LOOP_DELAY_P99_MS = 5;
const TARGET_CPU_PERCENT = 1;
const TARGET_PEAK_MIB = 90;
const STREAMS = 8;
const PROBE_EVERY_MS = 20;
/** The uploads run this long before the probes start, so that all 8 are decoding when they do. */
const RAMP_MS = 500;
/** CPU rounds, Opus then WAV in each: two, since each costs 2 × 20 s. */
const CPU_ROUNDS = 2;
/** monitorEventLoopDelay's interval, which its histogram (the prober's) includes. */
const LOOP_DELAY_RESOLUTION_MS = 10;
const LOOP_DELAY_PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'loop-delay-probe.cjs');
const REFERENCE_NAMES = { flac: 'flac -d -c', opus: 'opusdec --float', vorbis: 'oggdec', mp3: 'mpg123 -t' };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function readSettings() {
  const setting = (flag, env, fallback) => positiveInteger(`${env} (--${flag})`, readSetting({ flag, env }) ?? fallback);
  return {
    speedSeconds: setting('compressed-seconds', 'BENCH_COMPRESSED_SECONDS', 60),
    runs: setting('compressed-runs', 'BENCH_COMPRESSED_RUNS', 5),
    lagSeconds: setting('compressed-lag-seconds', 'BENCH_COMPRESSED_LAG_SECONDS', 10),
    cpuSeconds: setting('compressed-cpu-seconds', 'BENCH_COMPRESSED_CPU_SECONDS', 20),
    memorySeconds: setting('compressed-memory-seconds', 'BENCH_COMPRESSED_MEMORY_SECONDS', 10),
  };
}

/** A body in memory and what a whole play of it answers: the fixture's frames, its codec, nothing lost. */
function bodyOf(fixtures, codec) {
  const file = codec === 'wav' ? fixtures.wav : fixtures.files[codec];
  const contentType = codec === 'wav' ? 'audio/wav' : CODECS.find((c) => c.codec === codec).contentType;
  return { codec, contentType, body: fs.readFileSync(file.path), frames: fixtures.frames, seconds: fixtures.seconds };
}

async function play(url, body, query = '') {
  const answer = await postAudio(url, { contentType: body.contentType, body: body.body, query });
  const json = answer.json;
  const whole = answer.status === 200 && json.frames === body.frames && !json.truncated && (body.codec === 'wav' || (json.codec === body.codec && json.decodeErrors === 0));
  if (!whole) throw new Error(`${body.codec}: POST answered ${answer.status} ${JSON.stringify(json)}; expected ${body.frames} frames, whole`);
  return answer;
}

// ---------------------------------------------------------------- decode speed

async function timeSpeakerd(server, body) {
  const cpuBefore = cpuSecondsOf(server.pid);
  const answer = await play(server.url, body);
  server.assertAlive();
  return { seconds: answer.ms / 1000, cpuSeconds: cpuSecondsOf(server.pid) - cpuBefore };
}

const timeReference = (codec, file) => runPipeline(codec.decodeToNothing(file.path));

async function measureSpeed(server, fixtures, runs, log) {
  const bodies = Object.fromEntries(['wav', ...CODECS.map((c) => c.codec)].map((codec) => [codec, bodyOf(fixtures, codec)]));
  // Unmeasured: the JIT's work on the body path, the files' pages, the tools' libraries.
  for (const body of Object.values(bodies)) await play(server.url, body);
  for (const codec of CODECS) await timeReference(codec, fixtures.files[codec.codec]);

  const samples = Object.fromEntries(Object.keys(bodies).map((codec) => [codec, { speakerd: [], reference: [] }]));
  for (let run = 1; run <= runs; run++) {
    globalThis.gc?.();
    samples.wav.speakerd.push(await timeSpeakerd(server, bodies.wav));
    for (const codec of CODECS) {
      // Who goes first alternates, so that neither always follows the other's cache misses.
      const first = run % 2 === 1 ? 'reference' : 'speakerd';
      for (const side of first === 'reference' ? ['reference', 'speakerd'] : ['speakerd', 'reference']) {
        const timed = side === 'reference' ? await timeReference(codec, fixtures.files[codec.codec]) : await timeSpeakerd(server, bodies[codec.codec]);
        samples[codec.codec][side].push({ seconds: timed.seconds, cpuSeconds: timed.cpuSeconds });
      }
      const [s, r] = [samples[codec.codec].speakerd.at(-1), samples[codec.codec].reference.at(-1)];
      log(`${name}: run ${run}/${runs} ${codec.codec}: speakerd ${fixed(fixtures.seconds / s.seconds, 0)}× real time (${fixed(s.cpuSeconds, 2)} CPU s), ${REFERENCE_NAMES[codec.codec]} ${fixed(fixtures.seconds / r.seconds, 0)}× (${fixed(r.cpuSeconds, 2)} CPU s)`);
    }
  }
  const summarise = (runsOf) => {
    const speeds = runsOf.map((r) => fixtures.seconds / r.seconds);
    return { speeds, timesRealTime: fixtures.seconds / median(runsOf.map((r) => r.seconds)), min: Math.min(...speeds), max: Math.max(...speeds), medianCpuSeconds: median(runsOf.map((r) => r.cpuSeconds)) };
  };
  const summary = { wav: { speakerd: summarise(samples.wav.speakerd) } };
  for (const codec of CODECS) {
    const speakerd = summarise(samples[codec.codec].speakerd);
    const reference = summarise(samples[codec.codec].reference);
    summary[codec.codec] = { speakerd, reference, ratio: speakerd.timesRealTime / reference.timesRealTime, command: codec.decodeToNothing(`${codec.codec}.${codec.extension}`), bytes: fixtures.files[codec.codec].bytes };
  }
  return { samples, summary };
}

const speedText = (s) => `${fixed(s.timesRealTime, 0)}× (${fixed(s.min, 0)}–${fixed(s.max, 0)})`;

function speedRows(speed, settings) {
  const rows = CODECS.map(({ codec }) => {
    const s = speed.summary[codec];
    return row(
      `decode speed, ${codec}: speakerd (POST → answer, null PCM) / ${REFERENCE_NAMES[codec]}; × real time, median (min–max) of ${settings.runs}; CPU s`,
      `${fixed(s.ratio, 2)}: ${speedText(s.speakerd)} vs ${speedText(s.reference)}; CPU ${fixed(s.speakerd.medianCpuSeconds, 2)} vs ${fixed(s.reference.medianCpuSeconds, 2)} s (${fixed(s.speakerd.medianCpuSeconds / s.reference.medianCpuSeconds, 1)}×)`,
      `≥ ${TARGET_SPEED_RATIO}`,
      s.ratio >= TARGET_SPEED_RATIO,
    );
  });
  const wav = speed.summary.wav.speakerd;
  rows.push(row('the same audio as WAV (no decoding), speakerd, same way', `${speedText(wav)}; CPU ${fixed(wav.medianCpuSeconds, 2)} s`));
  return rows;
}

// ---------------------------------------------------------------- event loop

/**
 * Each client POSTs its body, again and again, until `stop()`; stop()
 * resolves, once every client's last answer is in, with the plays finished
 * before it was called.
 */
function startUploadLoops(url, bodies) {
  let stopping = false;
  let finished = 0;
  let finishedSeconds = 0;
  const loops = bodies.map(async (body, i) => {
    while (!stopping) {
      await play(url, body, `?name=upload-${i + 1}`);
      if (stopping) break;
      finished++;
      finishedSeconds += body.seconds;
    }
  });
  const failed = Promise.race(loops.map((loop) => loop.then(() => new Promise(() => {}))));
  // Awaited only while the probes run; a failure after that comes out of stop().
  failed.catch(() => {});
  return {
    stop: async () => {
      stopping = true;
      const counted = { plays: finished, audioSeconds: finishedSeconds };
      await Promise.all(loops);
      return counted;
    },
    failed,
  };
}

/**
 * Reads the histogram of lib/loop-delay-probe.cjs in the service: take()
 * resolves with the loop's delay since the last take(), and starts anew.
 */
function loopDelayOf(pid, file) {
  return {
    async take() {
      fs.rmSync(file, { force: true });
      process.kill(pid, 'SIGUSR2');
      // The loop handles the signal when it gets to it, which is the point: allow for a slow one.
      const deadline = Date.now() + 10_000;
      while (!fs.existsSync(file)) {
        if (Date.now() > deadline) throw new Error(`the service wrote no event-loop delay into ${file} within 10 s of SIGUSR2`);
        await sleep(5);
      }
      return JSON.parse(fs.readFileSync(file, 'utf8'));
    },
  };
}

/** The JS thread's time on a CPU and waiting on a run queue for one, in s (/proc/PID/task/PID/schedstat, ns). */
function jsThreadSchedule(pid) {
  const [runNs, waitNs] = fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { runSeconds: runNs / 1e9, waitSeconds: waitNs / 1e9 };
}

/** /livez probes for `seconds`, and what the service's loop and JS thread went through meanwhile. */
async function probeWindow(server, loopDelay, seconds) {
  await loopDelay.take();
  const cpuBefore = cpuSecondsOf(server.pid);
  const scheduleBefore = jsThreadSchedule(server.pid);
  const started = process.hrtime.bigint();
  const observed = await observe({ url: server.url, seconds, probeEveryMs: PROBE_EVERY_MS });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const scheduleAfter = jsThreadSchedule(server.pid);
  const cpuSeconds = cpuSecondsOf(server.pid) - cpuBefore;
  const loop = await loopDelay.take();
  const ms = observed.probes.map((p) => p.ms);
  return {
    count: ms.length,
    failed: observed.probes.filter((p) => p.failed).length,
    p50Ms: median(ms),
    p99Ms: percentile(ms, 99),
    maxMs: Math.max(...ms),
    proberLateP99Ms: Math.max(0, observed.loopDelay.p99Ms - LOOP_DELAY_RESOLUTION_MS),
    wallSeconds,
    serverCpuPercent: (cpuSeconds / wallSeconds) * 100,
    loopDelay: loop,
    jsThread: {
      runMsPerSecond: ((scheduleAfter.runSeconds - scheduleBefore.runSeconds) / wallSeconds) * 1000,
      runQueueMsPerSecond: ((scheduleAfter.waitSeconds - scheduleBefore.waitSeconds) / wallSeconds) * 1000,
    },
  };
}

async function measureLag(server, loopDelay, fixtures, seconds, log) {
  const calm = await probeWindow(server, loopDelay, seconds);
  log(`${name}: nothing playing: /livez p50 ${fixed(calm.p50Ms, 2)} p99 ${fixed(calm.p99Ms, 2)} max ${fixed(calm.maxMs, 2)} ms; loop delay p99 ${fixed(calm.loopDelay.p99Ms, 2)} ms`);

  const bodies = CODECS.flatMap(({ codec }) => [bodyOf(fixtures, codec), bodyOf(fixtures, codec)]);
  const uploads = startUploadLoops(server.url, bodies);
  let counted;
  try {
    await Promise.race([sleep(RAMP_MS), uploads.failed]);
    const window = await Promise.race([probeWindow(server, loopDelay, seconds), uploads.failed]);
    counted = await uploads.stop();
    server.assertAlive();
    const loaded = { ...window, ...counted, uploadSeconds: RAMP_MS / 1000 + window.wallSeconds };
    log(`${name}: ${STREAMS} unpaced uploads: /livez p50 ${fixed(loaded.p50Ms, 2)} p99 ${fixed(loaded.p99Ms, 2)} max ${fixed(loaded.maxMs, 2)} ms; loop delay p99 ${fixed(loaded.loopDelay.p99Ms, 2)} ms; server CPU ${fixed(loaded.serverCpuPercent, 0)} %; ${counted.plays} plays done`);
    return { calm, loaded };
  } finally {
    if (!counted) await uploads.stop().catch(() => {});
  }
}

const probeText = (p) => `${fixed(p.p50Ms, 2)} / ${fixed(p.p99Ms, 2)} / ${fixed(p.maxMs, 2)} ms of ${p.count}${p.failed ? `, ${p.failed} failed` : ''}`;
const loopText = (w) =>
  `${fixed(w.loopDelay.p50Ms, 2)} / ${fixed(w.loopDelay.p99Ms, 2)} / ${fixed(w.loopDelay.maxMs, 2)} ms; JS thread on a CPU ${fixed(w.jsThread.runMsPerSecond, 0)} ms/s, waiting for one ${fixed(w.jsThread.runQueueMsPerSecond, 0)} ms/s`;

function lagRows(lag) {
  const { calm, loaded } = lag;
  return [
    row(
      `event-loop delay in the service during ${STREAMS} unpaced compressed uploads (2 per codec, repeated), p50 / p99 / max; JS thread schedule`,
      `${loopText(loaded)}; server CPU ${fixed(loaded.serverCpuPercent, 0)} %`,
      `p99 ≤ ${TARGET_LOOP_DELAY_P99_MS} ms`,
      loaded.loopDelay.p99Ms <= TARGET_LOOP_DELAY_P99_MS,
    ),
    row('the same, nothing playing', loopText(calm)),
    row('/livez answer time from the bench during the same uploads, p50 / p99 / max', probeText(loaded)),
    row('/livez, same probes, nothing playing (the probe\'s own floor: its TCP handshake and the bench\'s scheduling)', probeText(calm)),
  ];
}

// ---------------------------------------------------------------- CPU

/** CPU seconds between two threadsOf() readings of the main and the playback thread (SCHED_FIFO); the rest is the other threads', decode threads included, which have ended by then. */
function cpuOfLongLivedThreads(pid, before, after) {
  const spent = (matches) => after.filter(matches).reduce((sum, t) => sum + t.cpuSeconds - (before.find((b) => b.tid === t.tid)?.cpuSeconds ?? 0), 0);
  return { main: spent((t) => t.tid === pid), playback: spent((t) => t.tid !== pid && t.policy === 1) };
}

async function measureCpu(fixtures, warmUp, log) {
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless' } });
  try {
    // One short stream of each first: the JIT's work on the body path is a start-up cost, not a per-stream one.
    await play(server.url, bodyOf(warmUp, 'opus'));
    await play(server.url, bodyOf(warmUp, 'wav'));
    const results = { opus: [], wav: [] };
    for (let round = 1; round <= CPU_ROUNDS; round++) {
      for (const codec of ['opus', 'wav']) {
        const body = bodyOf(fixtures, codec);
        const threadsBefore = threadsOf(server.pid);
        const cpuBefore = cpuSecondsOf(server.pid);
        const started = process.hrtime.bigint();
        await Promise.all(Array.from({ length: STREAMS }, (_, i) => play(server.url, body, `?name=bench-${i + 1}`)));
        const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        const cpuSeconds = cpuSecondsOf(server.pid) - cpuBefore;
        const threads = cpuOfLongLivedThreads(server.pid, threadsBefore, threadsOf(server.pid));
        server.assertAlive();
        const perStream = (s) => (s / fixtures.seconds / STREAMS) * 100;
        const result = {
          wallSeconds,
          cpuSeconds,
          percentPerStream: perStream(cpuSeconds),
          byThread: { 'JS main thread': perStream(threads.main), 'playback thread': perStream(threads.playback), 'other threads (decode threads among them)': perStream(cpuSeconds - threads.main - threads.playback) },
        };
        results[codec].push(result);
        log(`${name}: round ${round}/${CPU_ROUNDS} ${codec}: ${fixed(cpuSeconds, 2)} CPU s over ${fixed(wallSeconds, 1)} s: ${fixed(result.percentPerStream, 3)} % per stream`);
      }
    }
    const summary = (list) => ({ percentPerStream: median(list.map((r) => r.percentPerStream)), runs: list.map((r) => r.percentPerStream), byThread: Object.fromEntries(Object.keys(list[0].byThread).map((k) => [k, median(list.map((r) => r.byThread[k]))])) });
    return { runs: results, opus: summary(results.opus), wav: summary(results.wav) };
  } finally {
    await server.stop();
  }
}

const cpuText = (s) => `${fixed(s.percentPerStream, 3)} % of a core (runs ${s.runs.map((v) => fixed(v, 3)).join(' / ')}; ${Object.entries(s.byThread).map(([k, v]) => `${k} ${fixed(v, 3)}`).join(', ')})`;

function cpuRows(cpu, settings) {
  return [
    row(`${STREAMS} paced Opus streams × ${settings.cpuSeconds} s, clock sink: service CPU per stream`, cpuText(cpu.opus), `≤ ${TARGET_CPU_PERCENT} %`, cpu.opus.percentPerStream <= TARGET_CPU_PERCENT),
    row('the same audio as WAV, same way', `${cpuText(cpu.wav)}; Opus costs ${fixed(cpu.opus.percentPerStream / cpu.wav.percentPerStream, 1)}× this`),
  ];
}

// ---------------------------------------------------------------- memory

async function peakWith(bodies) {
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless' } });
  try {
    const idle = memoryOf(server.pid);
    const stopSampling = sampleRss(server.pid);
    await Promise.all(bodies.map((body, i) => play(server.url, body, `?name=bench-${i + 1}`)));
    const highestSampledMiB = stopSampling();
    server.assertAlive();
    return { idle, after: memoryOf(server.pid), highestSampledMiB };
  } finally {
    await server.stop();
  }
}

async function measureMemory(fixtures, log) {
  const compressed = await peakWith(CODECS.flatMap(({ codec }) => [bodyOf(fixtures, codec), bodyOf(fixtures, codec)]));
  const wav = await peakWith(Array.from({ length: STREAMS }, () => bodyOf(fixtures, 'wav')));
  log(`${name}: peak RSS ${fixed(compressed.after.peakMiB, 1)} MiB with ${STREAMS} compressed streams, ${fixed(wav.after.peakMiB, 1)} MiB with ${STREAMS} WAV streams`);
  return { compressed, wav };
}

const memoryText = (r) => `${fixed(r.after.peakMiB, 1)} MiB (idle ${fixed(r.idle.rssMiB, 1)}, after ${fixed(r.after.rssMiB, 1)}, highest sampled ${fixed(r.highestSampledMiB, 1)})`;

function memoryRows(memory, settings) {
  return [
    row(`peak RSS (VmHWM), ${STREAMS} paced compressed streams (2 per codec) × ${settings.memorySeconds} s`, memoryText(memory.compressed), `≤ ${TARGET_PEAK_MIB} MiB`, memory.compressed.after.peakMiB <= TARGET_PEAK_MIB),
    row(`the same with ${STREAMS} WAV streams of the same audio`, `${memoryText(memory.wav)}; compressed ${memory.compressed.after.peakMiB >= memory.wav.after.peakMiB ? '+' : ''}${fixed(memory.compressed.after.peakMiB - memory.wav.after.peakMiB, 1)} MiB`),
  ];
}

// ----------------------------------------------------------------

export async function run({ log = () => {} } = {}) {
  checkReferenceTools();
  const settings = readSettings();
  return withTempDir('speakerd-bench-compressed-', async (dir) => {
    const fixtureStarted = Date.now();
    const speedFixtures = await makeFixtures(dir, 'speed', settings.speedSeconds);
    const cpuFixtures = await makeFixtures(dir, 'cpu', settings.cpuSeconds, CODECS.filter((c) => c.codec === 'opus'));
    const memoryFixtures = await makeFixtures(dir, 'memory', settings.memorySeconds);
    const warmUp = await makeFixtures(dir, 'warm-up', 1);
    const fixtureSeconds = (Date.now() - fixtureStarted) / 1000;
    log(`${name}: fixtures encoded in ${fixed(fixtureSeconds, 1)} s`);

    // One server for speed and event loop: a running service, warmed up by the first.
    const nullPcm = BENCH_PCMS.find((p) => p.label === 'null');
    // Room for the 8 uploads however a client's next POST races the release of its last stream.
    const loopDelayFile = path.join(dir, 'loop-delay.json');
    const unpacedEnv = {
      ...unpacedDeviceEnv(nullPcm),
      MAX_STREAMS: '16',
      NODE_OPTIONS: `${SHIPPED_PROCESS_ENV.NODE_OPTIONS} --require ${LOOP_DELAY_PROBE}`,
      LOOP_DELAY_FILE: loopDelayFile,
    };
    const server = await startSpeakerd({ env: unpacedEnv });
    let speed;
    let lag;
    try {
      speed = await measureSpeed(server, speedFixtures, settings.runs, log);
      lag = await measureLag(server, loopDelayOf(server.pid, loopDelayFile), speedFixtures, settings.lagSeconds, log);
    } finally {
      await server.stop();
    }
    const cpu = await measureCpu(cpuFixtures, warmUp, log);
    const memory = await measureMemory(memoryFixtures, log);

    const sizes = (f) => CODECS.map(({ codec }) => `${codec} ${fixed(f.files[codec].bytes / 1e6, 2)} MB`).join(', ');
    return {
      rows: [...speedRows(speed, settings), ...lagRows(lag), ...cpuRows(cpu, settings), ...memoryRows(memory, settings)],
      note:
        `fixtures: 48 kHz stereo S16, a tone per channel (330, 440 Hz) + noise at -26 dB, encoded with default settings by flac, opusenc, oggenc, lame (${settings.speedSeconds} s: ${sizes(speedFixtures)}; WAV ${fixed(speedFixtures.wav.bytes / 1e6, 2)} MB); ` +
        `decode speed: one running service (AUDIO_MODE=device on a null PCM, AUDIO_UNDERRUN=wait, device 48 kHz stereo S16_LE: no resampling; warmed up with one play of each) against ${CODECS.map((c) => c.decodeToNothing('FILE')).join(', ')}, each as bash -c runs it, spawn to exit; speakerd = node:http POST of the file from memory, request start → answer; CPU = the service's (all threads) or the whole pipeline's; ${settings.runs} rounds, the order alternating; ` +
        `event loop: the same service, MAX_STREAMS=16, 8 clients each POSTing its ${settings.speedSeconds} s file again and again (${lag.loaded.plays} plays finished during the ${fixed(lag.loaded.uploadSeconds, 1)} s), /livez every ${PROBE_EVERY_MS} ms for ${settings.lagSeconds} s on a new connection from a worker thread of the bench (whose own timers ran up to ${fixed(Math.max(lag.calm.proberLateP99Ms, lag.loaded.proberLateP99Ms), 1)} ms late at p99), p99 nearest-rank; ` +
        `loop delay: monitorEventLoopDelay (10 ms timer, the 10 ms taken off) preloaded into the service with --require (lib/loop-delay-probe.cjs; so for the decode-speed figure too), read by SIGUSR2 around each window; JS thread schedule from /proc/PID/task/PID/schedstat (time on a CPU, time runnable on a run queue); ` +
        `CPU: headless clock sink, 1024-frame periods, ${STREAMS} concurrent POSTs of the ${settings.cpuSeconds} s Opus file (${fixed(cpuFixtures.files.opus.bytes / 1e3, 0)} kB) or its WAV, ${CPU_ROUNDS} rounds alternating, medians; CPU = utime + stime of the service from /proc/PID/stat until the last answer ÷ ${settings.cpuSeconds} s ÷ ${STREAMS}; ` +
        `memory: a fresh headless service each, ${STREAMS} concurrent POSTs of ${settings.memorySeconds} s files, VmHWM from /proc/PID/status after the last answer`,
      json: { settings, fixtures: { speed: speedFixtures, cpu: cpuFixtures, memory: memoryFixtures, fixtureSeconds }, targets: { speedRatio: TARGET_SPEED_RATIO, loopDelayP99Ms: TARGET_LOOP_DELAY_P99_MS, cpuPercent: TARGET_CPU_PERCENT, peakMiB: TARGET_PEAK_MIB }, unpacedEnv, speed, lag, cpu, memory },
    };
  });
}
