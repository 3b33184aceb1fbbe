// The hostile bench's observers: a liveness prober and one well-behaved
// stream paced at real time. They run on a worker thread of their own, so
// that the attack, which the bench's main thread drives, cannot delay their
// timers: a late probe or a late slice must be the server's doing. The
// thread's own event-loop delay is reported to show it.
import http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { postAudio } from './http-post.mjs';
import { sinePattern, wavHeader } from './wav.mjs';

/** The kubelet's timeoutSeconds for /livez (k8s/base/daemonset.yaml): a slower probe has failed. */
export const PROBE_TIMEOUT_MS = 2000;
const FORMAT = { rate: 48000, channels: 2 };
const FRAME_BYTES = FORMAT.channels * 2;

/**
 * GET /livez on a connection of its own, as the kubelet probes. Resolves with
 * { atMs, ms, status } or { atMs, ms: PROBE_TIMEOUT_MS, failed, error }; a
 * status outside 200–399 fails as the kubelet counts it.
 */
function probe(url, startedAt) {
  const atMs = performance.now() - startedAt;
  return new Promise((resolve) => {
    const started = performance.now();
    const fail = (error, status) => resolve({ atMs, ms: PROBE_TIMEOUT_MS, failed: true, error, status });
    const request = http.get(`${url}/livez`, { agent: false }, (response) => {
      response.resume();
      response.on('error', (error) => fail(error.code ?? error.message, response.statusCode));
      response.on('end', () => {
        clearTimeout(timer);
        const ms = performance.now() - started;
        if (response.statusCode >= 200 && response.statusCode < 400) resolve({ atMs, ms, status: response.statusCode });
        else fail(`status ${response.statusCode}`, response.statusCode);
      });
    });
    const timer = setTimeout(() => request.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    request.on('error', (error) => {
      clearTimeout(timer);
      fail(error.code ?? error.message);
    });
  });
}

/** Probes every `everyMs` for `seconds`, each on schedule whether or not the one before has answered. */
async function probeFor(url, { seconds, everyMs }) {
  const startedAt = performance.now();
  const pending = [];
  for (let i = 0; i < Math.round((seconds * 1000) / everyMs); i++) {
    const due = startedAt + i * everyMs;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    pending.push(probe(url, startedAt));
  }
  return Promise.all(pending);
}

/**
 * A WAV of `seconds` that a live source would send: `leadMs` of it at once,
 * then the rest as it falls due, a slice every `sliceMs`. It is pushed on
 * schedule whatever the connection's backpressure, as a microphone would not
 * wait either.
 */
function pacedWav({ seconds, leadMs, sliceMs }) {
  const totalFrames = Math.round(seconds * FORMAT.rate);
  const pattern = sinePattern(FORMAT);
  let sentFrames = 0;
  let timer;
  const readable = new Readable({
    read() {},
    destroy(error, callback) {
      clearInterval(timer);
      callback(error);
    },
  });
  readable.push(wavHeader({ ...FORMAT, dataBytes: totalFrames * FRAME_BYTES }));
  const startedAt = performance.now();
  const sendDue = () => {
    const due = Math.min(totalFrames, Math.floor(((performance.now() - startedAt + leadMs) * FORMAT.rate) / 1000));
    while (sentFrames < due) {
      const offset = (sentFrames * FRAME_BYTES) % pattern.length;
      const bytes = Math.min((due - sentFrames) * FRAME_BYTES, pattern.length - offset);
      readable.push(pattern.subarray(offset, offset + bytes));
      sentFrames += bytes / FRAME_BYTES;
    }
    if (sentFrames === totalFrames) {
      clearInterval(timer);
      readable.push(null);
    }
  };
  sendDue();
  timer = setInterval(sendDue, sliceMs);
  return { readable, totalFrames };
}

async function playPaced(url, { seconds, leadMs, sliceMs, answerTimeoutMs }) {
  const { readable, totalFrames } = pacedWav({ seconds, leadMs, sliceMs });
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ error: `none ${answerTimeoutMs / 1000} s after the body's end` }), seconds * 1000 + answerTimeoutMs);
  });
  const answer = postAudio(url, { contentType: 'audio/wav', body: readable, query: '?name=paced' }).then(
    ({ status, json, ms }) => ({ status, json, ms }),
    (error) => ({ error: error.code ?? error.message }),
  );
  try {
    return { totalFrames, ...(await Promise.race([answer, timeout])) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the prober (and, with `pacedStream`, the paced stream) against `url`
 * for `seconds` on a worker thread; resolves with { probes, stream,
 * loopDelay }. Both start together. The probes go to `probeUrl` (the
 * kubelet's port) when given, else to `url`; with `alsoProbeUrl`, the same
 * probes go there too, at the same moments, into `alsoProbes`.
 */
export function observe(options) {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { probeThread: options } });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the probe thread exited (code ${code}) without a result`)));
  }).finally(() => worker.terminate());
}

async function observeInThisThread({ url, probeUrl = url, alsoProbeUrl, seconds, probeEveryMs, pacedStream, leadMs, sliceMs, answerTimeoutMs }) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const [probes, alsoProbes, stream] = await Promise.all([
    probeFor(probeUrl, { seconds, everyMs: probeEveryMs }),
    alsoProbeUrl ? probeFor(alsoProbeUrl, { seconds, everyMs: probeEveryMs }) : undefined,
    pacedStream ? playPaced(url, { seconds, leadMs, sliceMs, answerTimeoutMs }) : undefined,
  ]);
  loop.disable();
  return { probes, alsoProbes, stream, loopDelay: { p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 } };
}

if (!isMainThread && workerData?.probeThread) {
  parentPort.postMessage(await observeInThisThread(workerData.probeThread));
}
