// Hostile clients (issue 13): does the event loop stay answerable while
// cheap attacks run? For each scenario, a fresh server, then for the
// scenario's length: the attack, a prober GETting /livez every 100 ms on a
// new connection each time (as the kubelet does: on speakerd's probe port,
// PROBE_PORT, as the manifest has it; the same probes on PORT are recorded
// too), and, for speakerd, one well-behaved stream paced at real time. Target: /livez p99 ≤ 200 ms and 0
// underruns for the paced stream. The peer, a bare Fastify server with
// routes of the same purpose, takes the same attack in the same run.
//
//   calm     no attack: the control, showing what the prober and the paced stream get on their own
//   chunks   8 clients POST /v1/streams with a chunked body of 1-byte chunks, as fast as the server takes them
//   idle     2,000 TCP connections that send nothing, reopened when the server closes them
//   flood    wrk -t2 -c64 on /metrics and another on /v1/device at once
//
// Settings (flag or environment variable):
//   --hostile-seconds / HOSTILE_SECONDS      length of each scenario's measurement (30)
//   --hostile-scenarios / HOSTILE_SCENARIOS  which scenarios, comma-separated (calm,chunks,idle,flood)
//   --hostile-lead-ms / HOSTILE_LEAD_MS      how far ahead of real time the paced stream starts (100):
//                                            the longest pause of the server's event loop it survives without an underrun
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { CHUNK_WIRE_BYTES, startChunkAttackers } from './lib/chunk-attackers.mjs';
import { openIdleConnections } from './lib/idle-connections.mjs';
import { PROBE_TIMEOUT_MS, observe } from './lib/probe-thread.mjs';
import { cpuSecondsOf } from './lib/proc.mjs';
import { fixed, row } from './lib/report.mjs';
import { SHIPPED_PROCESS_ENV, startPeer, startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting, setupError } from './lib/settings.mjs';
import { median, percentile } from './lib/stats.mjs';
import { wavHeader } from './lib/wav.mjs';
import { checkWrk, startWrk } from './lib/wrk.mjs';

export const name = 'hostile';

const BARE_FASTIFY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'bare-fastify.mjs');
const LIVEZ_P99_TARGET_MS = 200;
const PROBE_EVERY_MS = 100;
const SLICE_MS = 20;
/** How long after its body's end the paced stream's answer may take before it counts as lost. */
const ANSWER_TIMEOUT_MS = 20_000;
const ATTACKERS = 8;
const IDLE_CONNECTIONS = 2000;
/** The idle clients' sockets, the server's, and room for everything else. */
const MIN_OPEN_FILES = 4096;
const WRK = { threads: 2, connections: 64 };
/** An attack runs this long before the measurement starts, so that it is at full strength (kernel buffers full, wrk connected). */
const RAMP_MS = 1000;
/**
 * The default MAX_STREAMS is 8: the 8 attackers would take every slot and
 * the paced stream would be refused. With 16 all 9 play; every other
 * setting is the service's default (AUDIO_UNDERRUN=silence, 1024-frame periods)
 * but PROBE_PORT, which the manifest sets (any free port here).
 */
const SPEAKERD_ENV = { AUDIO_MODE: 'headless', MAX_STREAMS: '16', PROBE_PORT: '0', ...(process.env.HOSTILE_LOG_LEVEL ? { LOG_LEVEL: process.env.HOSTILE_LOG_LEVEL } : {}) };
const SERVERS = ['speakerd', 'bare Fastify'];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Each scenario's attack: start(url, seconds) resolves once it is at full
 * strength with { mark(), pids, stop() }; mark() is called as the
 * measurement starts and as it ends, pids are the attack's own processes (if
 * it runs any besides the bench's), and stop() ends the attack and resolves
 * with its figures.
 */
const SCENARIOS = {
  calm: {
    label: 'calm (no attack: the control)',
    async start() {
      return { mark() {}, pids: [], stop: async () => ({}) };
    },
  },

  chunks: {
    label: `chunks (${ATTACKERS} clients × 1-byte chunks)`,
    async start(url, seconds) {
      const attackers = startChunkAttackers(url, {
        count: ATTACKERS,
        path: '/v1/streams',
        contentType: 'audio/wav',
        // The streaming size: the body never ends by itself.
        bodyStart: wavHeader({ rate: 48000, channels: 2 }),
      });
      await sleep(RAMP_MS);
      const marks = [];
      return {
        mark: () => marks.push({ at: process.hrtime.bigint(), accepted: attackers.acceptedBytes() }),
        pids: [],
        async stop() {
          const connections = attackers.stop();
          const [start, end] = marks;
          const markedSeconds = end ? Number(end.at - start.at) / 1e9 : seconds;
          const bytesPerSecond = end ? end.accepted.map((bytes, i) => (bytes - start.accepted[i]) / markedSeconds) : [];
          return { bytesPerSecond, chunksPerSecond: bytesPerSecond.map((rate) => rate / CHUNK_WIRE_BYTES), connections };
        },
      };
    },
  },

  idle: {
    label: `idle (${IDLE_CONNECTIONS.toLocaleString('en')} idle connections)`,
    async start(url) {
      const started = Date.now();
      const idle = await openIdleConnections(url, { count: IDLE_CONNECTIONS });
      const openedInMs = Date.now() - started;
      const marks = [];
      return {
        mark: () => marks.push({ openNow: idle.openNow(), counts: idle.counts() }),
        pids: [],
        async stop() {
          idle.stop();
          const [start, end = start] = marks;
          return {
            openedInMs,
            openAtStart: start.openNow,
            openAtEnd: end.openNow,
            closedByServer: end.counts.closedByServer,
            closedByServerDuringMeasurement: end.counts.closedByServer - start.counts.closedByServer,
            connectFailures: end.counts.connectFailures,
            errors: end.counts.errors,
          };
        },
      };
    },
  },

  flood: {
    label: `flood (wrk -t${WRK.threads} -c${WRK.connections} on /metrics and on /v1/device)`,
    async start(url, seconds) {
      // Both run from before the measurement until after it.
      const duration = seconds + (2 * RAMP_MS) / 1000;
      const floods = ['/metrics', '/v1/device'].map((route) => ({ route, wrk: startWrk(`${url}${route}`, { ...WRK, seconds: duration }) }));
      await sleep(RAMP_MS);
      return {
        mark() {},
        pids: floods.map(({ wrk }) => wrk.pid),
        async stop() {
          return { wrk: await Promise.all(floods.map(async ({ route, wrk }) => ({ route, ...(await wrk.done) }))) };
        },
      };
    },
  },
};

function openFilesLimit() {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === 'unlimited' ? Infinity : Number(soft);
}

async function checkSetup(scenarios) {
  if (scenarios.includes('idle')) {
    const limit = openFilesLimit();
    if (!(limit >= MIN_OPEN_FILES)) {
      throw setupError(`the idle scenario opens ${IDLE_CONNECTIONS} connections, and the server accepts as many: the open-file limit is ${limit}; raise it to at least ${MIN_OPEN_FILES} in the shell first (ulimit -n ${MIN_OPEN_FILES})`);
    }
  }
  if (scenarios.includes('flood')) await checkWrk();
}

function startServer(kind) {
  // Past start-up the log is drained unread: the flood logs two lines per request.
  if (kind === 'speakerd') return startSpeakerd({ env: SPEAKERD_ENV, logsAfterListening: false });
  // The same process environment as the service (heap cap, glibc arenas).
  return startPeer(BARE_FASTIFY, { env: SHIPPED_PROCESS_ENV });
}

/** NaN once the process has exited (a server that died, a wrk that failed): the figure is then unknown, not an error. */
function cpuSecondsOfLive(pid) {
  try {
    return cpuSecondsOf(pid);
  } catch {
    return NaN;
  }
}

function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function summarizeProbes(probes) {
  const ms = probes.map((p) => p.ms);
  const errors = {};
  for (const p of probes.filter((p) => p.failed)) errors[p.error] = (errors[p.error] ?? 0) + 1;
  return { count: probes.length, failed: probes.filter((p) => p.failed).length, p50Ms: median(ms), p99Ms: percentile(ms, 99), maxMs: Math.max(...ms), errors };
}

async function measure(scenarioName, kind, { seconds, leadMs }, log) {
  const scenario = SCENARIOS[scenarioName];
  const server = await startServer(kind);
  let attack;
  try {
    attack = await scenario.start(server.url, seconds);
    const { pids } = attack;
    // The clients' CPU: the bench process (the attackers, the probe thread) and the attack's own processes.
    const cpu = () => ({ server: cpuSecondsOfLive(server.pid), clients: ownCpuSeconds() + pids.reduce((sum, pid) => sum + cpuSecondsOfLive(pid), 0) });
    const started = process.hrtime.bigint();
    const cpuStart = cpu();
    attack.mark();
    const windowEnd = sleep(seconds * 1000).then(() => {
      attack.mark();
      return { ...cpu(), seconds: Number(process.hrtime.bigint() - started) / 1e9 };
    });
    const observed = await observe({
      url: server.url,
      probeUrl: server.probeUrl ?? server.url,
      alsoProbeUrl: server.probeUrl ? server.url : undefined,
      seconds,
      probeEveryMs: PROBE_EVERY_MS,
      pacedStream: kind === 'speakerd',
      leadMs,
      sliceMs: SLICE_MS,
      answerTimeoutMs: ANSWER_TIMEOUT_MS,
    });
    const cpuEnd = await windowEnd;
    const serverCpuPercent = ((cpuEnd.server - cpuStart.server) / cpuEnd.seconds) * 100;
    const clientsCpuPercent = ((cpuEnd.clients - cpuStart.clients) / cpuEnd.seconds) * 100;
    const attackFigures = await attack.stop();
    attack = undefined;
    const alive = server.alive();
    const death = alive ? undefined : howItDied(server);
    const probes = summarizeProbes(observed.probes);
    const portProbes = observed.alsoProbes && summarizeProbes(observed.alsoProbes);
    const stream = observed.stream && summarizeStream(observed.stream);
    const onPort = portProbes ? `; on PORT p50 ${fixed(portProbes.p50Ms, 1)} p99 ${fixed(portProbes.p99Ms, 1)} max ${fixed(portProbes.maxMs, 1)} ms` : '';
    log(`${name}: ${scenarioName}, ${kind}: /livez p50 ${fixed(probes.p50Ms, 1)} p99 ${fixed(probes.p99Ms, 1)} max ${fixed(probes.maxMs, 1)} ms, ${probes.failed}/${probes.count} failed${onPort}${stream ? `; paced stream ${stream.text}` : ''}; CPU: server ${fixed(serverCpuPercent, 0)} %, clients ${fixed(clientsCpuPercent, 0)} %${alive ? '' : `; the server DIED: ${death}`}`);
    return {
      scenario: scenarioName,
      server: kind,
      alive,
      death,
      serverCpuPercent,
      clientsCpuPercent,
      probes,
      portProbes,
      probeThreadLoopDelay: observed.loopDelay,
      stream,
      attack: attackFigures,
      probeMs: observed.probes.map((p) => Math.round(p.ms * 10) / 10),
      portProbeMs: observed.alsoProbes?.map((p) => Math.round(p.ms * 10) / 10),
    };
  } finally {
    await attack?.stop().catch(() => {});
    await server.stop();
  }
}

/** What a server that exited during the measurement said last (speakerd's stderr and log); the peer logs nothing. */
function howItDied(server) {
  try {
    server.assertAlive?.();
    return 'exited';
  } catch (error) {
    return error.message;
  }
}

function summarizeStream(answer) {
  const played = answer.status === 200 && answer.json?.frames === answer.totalFrames && !answer.json?.truncated;
  const underruns = answer.json?.underruns;
  const text = played
    ? `${underruns} underruns`
    : answer.error
      ? `no answer (${answer.error})`
      : `answered ${answer.status} ${JSON.stringify(answer.json).slice(0, 120)}`;
  return { ...answer, played, underruns: played ? underruns : undefined, text };
}

const ms = (value) => (value >= 100 ? fixed(value, 0) : fixed(value, 1));
const probeFigure = (p) => `${ms(p.p50Ms)} / ${ms(p.p99Ms)} / ${ms(p.maxMs)} ms, ${p.failed}/${p.count} failed`;
const kilo = (value) => (value >= 1000 ? `${fixed(value / 1000, 1)}k` : fixed(value, 0));
const cpuFigure = (r) => `CPU ${fixed(r.serverCpuPercent, 0)} %`;

function attackFigure(scenarioName, result) {
  const a = result.attack;
  if (scenarioName === 'chunks') {
    const chunks = a.chunksPerSecond;
    const closed = a.connections.reduce((sum, c) => sum + c.closedByServer, 0);
    const total = chunks.reduce((sum, rate) => sum + rate, 0);
    return `${kilo(total)}; ${kilo(median(chunks))} (${kilo(Math.min(...chunks))}–${kilo(Math.max(...chunks))})${closed ? `; ${closed} connections closed by the server` : ''}`;
  }
  if (scenarioName === 'idle') return `${a.openAtEnd} / ${a.closedByServer}`;
  if (scenarioName === 'flood') return a.wrk.map((w) => `${fixed(w.requestsPerSecond, 0)}${w.non2xx ? ` (${w.non2xx} non-2xx)` : ''}`).join(' + ');
  return '';
}

const ATTACK_MEASURES = {
  chunks: 'chunks (body bytes)/s the server read: all attackers; per attacker median (min–max)',
  idle: `connections open at the end / closed by the server (of ${IDLE_CONNECTIONS})`,
  flood: 'wrk requests/s, /metrics + /v1/device',
};

/** speakerd's p99 against the peer's, unless both hit the probe timeout (no ratio means anything then). */
function p99Comparison(speakerd, peer) {
  const [a, b] = [speakerd.probes.p99Ms, peer.probes.p99Ms];
  if (a >= PROBE_TIMEOUT_MS && b >= PROBE_TIMEOUT_MS) return 'both p99s at the probe timeout';
  // A ratio far below 1 keeps its first digits rather than showing 0.0.
  return `speakerd's p99 ${fixed(a / b, a / b < 0.1 ? 3 : 1)}× this`;
}

function rowsOf(scenarioName, results) {
  const label = SCENARIOS[scenarioName].label;
  const [speakerd, peer] = SERVERS.map((kind) => results.find((r) => r.server === kind));
  const rows = [];
  if (speakerd) {
    const s = speakerd.stream;
    const met = speakerd.alive && speakerd.probes.p99Ms <= LIVEZ_P99_TARGET_MS && s.played && s.underruns === 0;
    rows.push(
      row(
        `${label}, speakerd: /livez on PROBE_PORT (the kubelet's) p50 / p99 / max; paced stream`,
        `${probeFigure(speakerd.probes)}; ${s.text}${speakerd.alive ? '' : '; the service DIED'}`,
        `p99 ≤ ${LIVEZ_P99_TARGET_MS} ms, 0 underruns`,
        met,
      ),
    );
    if (speakerd.portProbes) rows.push(row(`${label}, speakerd: /livez on PORT, the same moments`, probeFigure(speakerd.portProbes)));
  }
  if (peer) {
    rows.push(row(`${label}, bare Fastify: /livez p50 / p99 / max`, `${probeFigure(peer.probes)}${speakerd ? `; ${p99Comparison(speakerd, peer)}` : ''}${peer.alive ? '' : '; the peer DIED'}`));
  }
  if (ATTACK_MEASURES[scenarioName]) {
    const measured = [speakerd && ['speakerd', speakerd], peer && ['bare Fastify', peer]].filter(Boolean);
    rows.push(
      row(
        `${label}: ${ATTACK_MEASURES[scenarioName]}; server CPU, ${measured.map(([kind]) => kind).join(' vs ')}`,
        measured.map(([, r]) => `${attackFigure(scenarioName, r)}, ${cpuFigure(r)}`).join(' vs '),
      ),
    );
  }
  return rows;
}

function readScenarios() {
  const text = readSetting({ flag: 'hostile-scenarios', env: 'HOSTILE_SCENARIOS' });
  if (text === undefined) return Object.keys(SCENARIOS);
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (names.length === 0 || unknown.length > 0) throw setupError(`HOSTILE_SCENARIOS (--hostile-scenarios) takes some of ${Object.keys(SCENARIOS).join(',')}; got ${text}`);
  return Object.keys(SCENARIOS).filter((n) => names.includes(n));
}

export async function run({ log = () => {} } = {}) {
  const seconds = positiveInteger('HOSTILE_SECONDS (--hostile-seconds)', readSetting({ flag: 'hostile-seconds', env: 'HOSTILE_SECONDS' }) ?? 30);
  const leadMs = positiveInteger('HOSTILE_LEAD_MS (--hostile-lead-ms)', readSetting({ flag: 'hostile-lead-ms', env: 'HOSTILE_LEAD_MS' }) ?? 100, 10_000);
  const scenarios = readScenarios();
  await checkSetup(scenarios);
  const results = [];
  for (const scenarioName of scenarios) {
    for (const kind of SERVERS) results.push(await measure(scenarioName, kind, { seconds, leadMs }, log));
  }
  const wrkCommands = results.filter((r) => r.attack.wrk).flatMap((r) => r.attack.wrk.map((w) => w.command.replace(/127\.0\.0\.1:\d+/, '…')));
  return {
    rows: scenarios.flatMap((scenarioName) => rowsOf(scenarioName, results.filter((r) => r.scenario === scenarioName))),
    note:
      `each scenario ${seconds} s (HOSTILE_SECONDS) on a fresh server, speakerd then the peer, after a ${RAMP_MS / 1000} s ramp of the attack; ` +
      `speakerd headless with MAX_STREAMS=16 (room for the 8 attackers and the paced stream), otherwise defaults, LOG_LEVEL=info, its log drained without parsing; ` +
      `the peer: bench/lib/bare-fastify.mjs, Fastify with default options (no logger), the same routes doing nothing (10 KB fixed /metrics, small /v1/device JSON, POST /v1/streams reads the body and answers its size); ` +
      `/livez every ${PROBE_EVERY_MS} ms on a new connection (speakerd: on PROBE_PORT, and the same on PORT), from a worker thread (its own loop delay p99 ≤ ${fixed(Math.max(...results.map((r) => r.probeThreadLoopDelay.p99Ms)), 1)} ms), a probe failed or slower than ${PROBE_TIMEOUT_MS} ms counts as ${PROBE_TIMEOUT_MS} ms; ` +
      `paced stream: 48 kHz stereo S16_LE WAV of ${seconds} s, ${leadMs} ms (HOSTILE_LEAD_MS) sent at once then a slice every ${SLICE_MS} ms on schedule, underruns from its 200 answer; ` +
      `chunks/s = the bytes the server read from each attacker during the measurement (written less the kernel's send and receive queues, /proc/net/tcp) ÷ ${CHUNK_WIRE_BYTES}, the server reading each connection 64 KiB at a time, several reads in a row, so one attacker's figure is coarse and the total less so; idle connections reopened at most once a second; ` +
      `flood: ${[...new Set(wrkCommands)].join(', ')}; server CPU = the server process's CPU time ÷ the measurement's length (up to ${os.availableParallelism() * 100} % here); the clients' CPU (bench process and wrk) is in the record`,
    json: { seconds, leadMs, probeEveryMs: PROBE_EVERY_MS, probeTimeoutMs: PROBE_TIMEOUT_MS, sliceMs: SLICE_MS, attackers: ATTACKERS, idleConnections: IDLE_CONNECTIONS, wrk: WRK, speakerdEnv: SPEAKERD_ENV, results },
  };
}
