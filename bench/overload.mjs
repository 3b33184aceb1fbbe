// Overload: 200 POSTs at once against MAX_STREAMS=8, each a few seconds of
// audio so that the 8 admitted ones are still playing when the rest arrive.
// Exactly 8 must play (200), the others be refused at once (429
// E_TOO_MANY_STREAMS with Retry-After), and the service must survive and
// play again afterwards. The figure of merit is how fast a refusal comes.
//
// Settings (flag or environment variable):
//   --posts / BENCH_POSTS   concurrent POSTs (200)
import { postAudio } from './lib/http-post.mjs';
import { fixed, row } from './lib/report.mjs';
import { startSpeakerd } from './lib/service.mjs';
import { positiveInteger, readSetting } from './lib/settings.mjs';
import { median, percentile } from './lib/stats.mjs';
import { wavBuffer } from './lib/wav.mjs';

export const name = 'overload';

const MAX_STREAMS = 8;
const SECONDS = 4;
const BODY = wavBuffer({ rate: 48000, channels: 2, seconds: SECONDS });
const AFTER_BODY = wavBuffer({ rate: 48000, channels: 2, seconds: 0.1 });

function classify(answers) {
  const played = answers.filter((a) => a.status === 200 && a.json.frames === SECONDS * 48000);
  const refused = answers.filter((a) => a.status === 429 && a.json.error?.code === 'E_TOO_MANY_STREAMS' && Number(a.headers['retry-after']) >= 1);
  const other = answers.filter((a) => !played.includes(a) && !refused.includes(a));
  return { played, refused, other };
}

export async function run({ log = () => {} } = {}) {
  const posts = positiveInteger('BENCH_POSTS (--posts)', readSetting({ flag: 'posts', env: 'BENCH_POSTS' }) ?? 200);
  const server = await startSpeakerd({ env: { AUDIO_MODE: 'headless', MAX_STREAMS: String(MAX_STREAMS) } });
  try {
    const started = process.hrtime.bigint();
    const settled = await Promise.allSettled(Array.from({ length: posts }, () => postAudio(server.url, { contentType: 'audio/wav', body: BODY })));
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const failures = settled.filter((s) => s.status === 'rejected').map((s) => s.reason.message);
    const { played, refused, other } = classify(settled.filter((s) => s.status === 'fulfilled').map((s) => s.value));
    const alive = server.alive();
    // Survived means: still up, healthy, and playing a new stream.
    const healthy = alive && (await fetch(`${server.url}/healthz`)).status === 200;
    const after = healthy ? await postAudio(server.url, { contentType: 'audio/wav', body: AFTER_BODY }) : undefined;
    const playsAfter = after?.status === 200;
    const refusalMs = refused.map((a) => a.ms);
    // Fastify's own view: from the request's arrival to the answer sent, without the client's queueing.
    const serverRefusalMs = server.logs.filter((e) => e.msg === 'request completed' && e.res?.statusCode === 429).map((e) => e.responseTime);
    const correct = played.length === MAX_STREAMS && refused.length === posts - MAX_STREAMS && other.length === 0 && failures.length === 0;
    log(`${name}: ${played.length} played, ${refused.length} refused, ${other.length} other, ${failures.length} failed; alive ${alive}, plays after ${playsAfter}`);
    const otherText = [...other.map((a) => `${a.status} ${JSON.stringify(a.json).slice(0, 80)}`), ...failures].slice(0, 3).join('; ');
    return {
      rows: [
        row(
          `${posts} concurrent POSTs, MAX_STREAMS=${MAX_STREAMS}: played / refused 429 / other`,
          `${played.length} / ${refused.length} / ${other.length + failures.length}${otherText ? ` (${otherText})` : ''}`,
          `${MAX_STREAMS} / ${posts - MAX_STREAMS} / 0`,
          correct,
        ),
        row('service after the burst: up, /healthz 200, plays a new stream', `${alive ? 'up' : 'DEAD'}, ${healthy ? '200' : 'no 200'}, ${playsAfter ? 'played' : `did not play (${after?.status})`}`, 'no crash', alive && healthy && playsAfter),
        row(`429 latency p50 / p99 / max (${refused.length} refusals), client side`, `${fixed(median(refusalMs), 1)} / ${fixed(percentile(refusalMs, 99), 1)} / ${fixed(Math.max(...refusalMs), 1)} ms`),
        row(`429 latency p50 / p99 / max, server side (Fastify responseTime)`, `${fixed(median(serverRefusalMs), 2)} / ${fixed(percentile(serverRefusalMs, 99), 2)} / ${fixed(Math.max(...serverRefusalMs), 2)} ms`),
      ],
      note:
      `headless; ${posts} POSTs of a ${SECONDS} s stereo 48 kHz WAV (${BODY.length} bytes), each on its own connection, all started at once by node:http; client-side latency = request start → complete answer (one Node process opening ${posts} connections and writing ${fixed((posts * BODY.length) / 1e6, 0)} MB: mostly queueing), server side = Fastify's responseTime of each 429 ("request completed" log lines); burst done in ${fixed(wallSeconds, 1)} s`,
      json: { posts, maxStreams: MAX_STREAMS, seconds: SECONDS, played: played.length, refused: refused.length, other: other.map((a) => ({ status: a.status, json: a.json })), failures, alive, healthy, playsAfter, refusalMs, serverRefusalMs, wallSeconds },
    };
  } finally {
    await server.stop();
  }
}
