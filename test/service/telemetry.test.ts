// OpenTelemetry for real: /metrics scraped over HTTP while a stream plays and
// after it ends (frames played = frames in the file PCM), every outcome
// counted, an OTLP/HTTP receiver on a local port getting the stream span and
// the metrics (JSON and protobuf), log lines carrying the trace ids, and
// shutdown bounded when the collector does not answer.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { projectRoot } from '../../src/project-root';
import { encode, toneS16, writeWav } from '../compressed-fixtures';
import { s16Pattern, scratchDir } from '../pcm-fixtures';
import { postStreaming, waitForStreams } from './http-client';
import { attributes, startOtlpReceiver } from './otlp-receiver';
import { scrape } from './prometheus-text';
import { fileDeviceEnv, startServer, untilLogged, waitForStatus } from './server-process';
import { nodeAsShipped } from '../node-as-shipped';

const RAW = 'audio/pcm;rate=48000;channels=2;format=s16le';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('/metrics while a stream plays and after it ends: frames played is what reached the file PCM', async (t) => {
  const file = path.join(scratchDir(t), 'out.raw');
  const server = await startServer(t, fileDeviceEnv(file));
  await waitForStatus(`${server.url}/readyz`, 200);

  const before = await scrape(server.url);
  t.match(before.contentType, /^text\/plain/);
  t.equal(before.value('speakerd_device_up', { speakerd_device_mode: 'device' }), 1);
  t.equal(before.value('speakerd_device_up', { speakerd_device_mode: 'headless' }), 0, 'every mode is reported, so none is left stale');
  t.equal(before.value('speakerd_streams_active'), 0);
  t.equal(before.value('speakerd_frames_played_total'), 0);

  const { writer, response } = postStreaming(`${server.url}/v1/streams?name=metrics`, RAW);
  const first = s16Pattern(24_000, 2, 3);
  // Both stamps bracket the server's first-frame span: its first body byte
  // comes after the write, its first commit before the file holds the frames.
  const written = performance.now();
  writer.write(first);
  const [stream] = await waitForStreams(server.url, 1);
  // Playing (unpaced into the file PCM) and waiting for more body. The file
  // plugin holds back a part of what was committed (it wrote 19904 of the
  // 24000 frames here), so the file having frames is the event, not its size.
  while (!statSync(file, { throwIfNoEntry: false })?.size) await sleep(10);
  const landed = performance.now();
  let during = await scrape(server.url);
  while (during.value('speakerd_frames_played_total')! < 24_000) during = await scrape(server.url);
  t.equal(during.value('speakerd_streams_active'), 1);
  t.equal(during.value('speakerd_frames_played_total'), 24_000, 'the frames already committed, read from the native counters');
  t.equal(during.value('speakerd_ring_fill', { speakerd_ring_stat: 'min' }), 0, 'the playing stream\'s ring, drained into the file PCM');
  t.equal(during.value('speakerd_ring_fill', { speakerd_ring_stat: 'max' }), 0);
  t.ok(stream);

  const second = s16Pattern(12_000, 2, 4);
  writer.write(second);
  writer.end();
  const answer = (await (await response).json()) as { frames: number };
  t.equal(answer.frames, 36_000);

  const after = await scrape(server.url);
  const fileFrames = readFileSync(file).length / 4;
  t.equal(fileFrames, 36_000);
  t.equal(after.value('speakerd_frames_played_total'), fileFrames, 'frames played = frames written to the file PCM');
  t.equal(after.value('speakerd_streams_active'), 0);
  t.equal(after.value('speakerd_streams_finished_total', { speakerd_stream_outcome: 'ok' }), 1);
  t.equal(after.value('speakerd_stream_underruns_total'), 0);
  t.equal(after.value('speakerd_device_xruns_total'), 0);
  t.same(after.all('speakerd_ring_fill').map((s) => [s.labels.speakerd_ring_stat, s.value]), [['min', 0], ['max', 0]], 'no stream: both 0');
  t.equal(after.value('speakerd_stream_first_frame_duration_count'), 1);
  const latency = after.value('speakerd_stream_first_frame_duration_sum')!;
  t.ok(latency > 0 && latency <= (landed - written) / 1000, `first-frame latency ${(latency * 1000).toFixed(3)} ms: after the first byte was sent, before the frames were seen in the file`);
  t.equal(after.value('http_server_request_duration_count', { http_request_method: 'POST', http_response_status_code: '200' }), 1, 'HTTP server metrics from the instrumentation');
  const gets = () => scrape(server.url).then((m) => m.value('http_server_request_duration_count', { http_request_method: 'GET', http_response_status_code: '200' }));
  const getsBefore = await gets();
  for (const probe of ['/healthz', '/livez', '/readyz', '/metrics']) t.equal((await fetch(`${server.url}${probe}`)).status, 200);
  t.equal(await gets(), getsBefore, 'probes and scrapes are not counted as traffic');
});

t.test('/metrics target_info names the service and, from the downward API, its node and pod; nothing about the process or the machine', async (t) => {
  const [onNode, offCluster] = await Promise.all([
    startServer(t, { AUDIO_MODE: 'headless', NODE_NAME: 'edge-node-7', POD_NAME: 'speakerd-x2k9f' }),
    startServer(t, { AUDIO_MODE: 'headless' }),
  ]);
  const targetInfo = async (url: string) => (await scrape(url)).all('target_info');
  const version = (file: string) => (JSON.parse(readFileSync(path.join(projectRoot, file), 'utf8')) as { version: string }).version;
  const sdk = { telemetry_sdk_language: 'nodejs', telemetry_sdk_name: 'opentelemetry', telemetry_sdk_version: version('node_modules/@opentelemetry/core/package.json') };
  const service = { service_name: 'speakerd', service_version: version('package.json') };

  const [inCluster] = await targetInfo(onNode.url);
  t.same(inCluster, { name: 'target_info', value: 1, labels: { ...service, k8s_node_name: 'edge-node-7', k8s_pod_name: 'speakerd-x2k9f', ...sdk } }, 'exactly these attributes');
  const [outside] = await targetInfo(offCluster.url);
  t.same(outside, { name: 'target_info', value: 1, labels: { ...service, ...sdk } }, 'no node or pod name when the downward API gives none');
  const withheld = ['process_command_line', 'process_command', 'process_command_args', 'process_executable_path', 'process_executable_name', 'process_owner', 'process_pid', 'process_runtime_version', 'host_name', 'os_type', 'os_description', 'os_version'];
  for (const label of withheld) t.notOk(label in inCluster!.labels || label in outside!.labels, `no ${label}`);
});

t.test('every way a stream ends is counted by outcome and error code', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'headless', STREAM_IDLE_TIMEOUT_MS: '300', MAX_STREAMS: '1' });
  await waitForStatus(`${server.url}/readyz`, 200);

  // rejected: not audio; and a second stream past MAX_STREAMS=1 (429).
  t.equal((await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' })).status, 415);
  // timeout: the body pauses longer than STREAM_IDLE_TIMEOUT_MS.
  const idle = postStreaming(`${server.url}/v1/streams`, RAW);
  idle.writer.write(s16Pattern(480, 2));
  await waitForStreams(server.url, 1);
  t.equal((await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(480, 2) })).status, 429);
  const idleAnswer = await idle.response;
  t.equal(idleAnswer.status, 408);
  const playedIn = (message: string) => Number(/(\d+) frames \(/.exec(message)![1]);
  let framesPlayed = playedIn(((await idleAnswer.json()) as any).error.message);
  // stopped: DELETE.
  const stopped = postStreaming(`${server.url}/v1/streams`, RAW);
  stopped.writer.write(s16Pattern(4800, 2));
  const [victim] = await waitForStreams(server.url, 1);
  t.equal((await fetch(`${server.url}/v1/streams/${victim!.id}`, { method: 'DELETE' })).status, 200);
  const stoppedAnswer = await stopped.response;
  t.equal(stoppedAnswer.status, 409);
  framesPlayed += playedIn(((await stoppedAnswer.json()) as any).error.message);
  // aborted: the client goes away mid-body.
  const controller = new AbortController();
  const aborted = postStreaming(`${server.url}/v1/streams`, RAW, {}, controller.signal);
  aborted.writer.write(s16Pattern(4800, 2));
  await waitForStreams(server.url, 1);
  controller.abort();
  await aborted.response.catch(() => undefined);
  await waitForStreams(server.url, 0);
  const gone = await untilLogged(server, (line) => line.msg === 'stream ended early' && line.code === 'E_CLIENT_GONE');
  framesPlayed += playedIn(gone.err.message);
  // ok.
  t.equal((await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(480, 2) })).status, 200);

  const metrics = await scrape(server.url);
  const finished = (outcome: string, code?: string) =>
    metrics.value('speakerd_streams_finished_total', code ? { speakerd_stream_outcome: outcome, error_type: code } : { speakerd_stream_outcome: outcome });
  t.equal(finished('rejected', 'E_UNSUPPORTED_MEDIA_TYPE'), 1);
  t.equal(finished('rejected', 'E_TOO_MANY_STREAMS'), 1);
  t.equal(finished('timeout', 'E_STREAM_IDLE'), 1);
  t.equal(finished('stopped', 'E_STREAM_STOPPED'), 1);
  t.equal(finished('aborted', 'E_CLIENT_GONE'), 1);
  t.equal(finished('ok'), 1);
  t.equal(metrics.all('speakerd_streams_finished_total').reduce((sum, s) => sum + s.value, 0), 6, 'nothing else was counted');
  t.equal(metrics.value('speakerd_streams_active'), 0);
  t.equal(metrics.value('speakerd_frames_played_total'), framesPlayed + 480, `every frame played: ${framesPlayed} by the cut streams, 480 by the whole one`);
});

t.test('OTLP over HTTP (JSON): the stream span with its events and summary, the metrics, and logs carrying the trace ids', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const server = await startServer(t, {
    AUDIO_MODE: 'headless',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_METRIC_EXPORT_INTERVAL: '300',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_SERVICE_NAME: 'speakerd-test',
  });
  await waitForStatus(`${server.url}/readyz`, 200);
  const response = await fetch(`${server.url}/v1/streams?name=otlp`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(9600, 2) });
  const answer = (await response.json()) as { id: string; frames: number };
  t.equal(answer.frames, 9600);

  // SIGTERM: shutdown flushes what is left.
  server.child.kill('SIGTERM');
  t.same(await server.exited, [0, null]);

  const spans = receiver.spans();
  const stream = spans.find((span) => span.name === 'speakerd.stream');
  t.ok(stream, 'the stream span arrived');
  const http = spans.find((span) => span.spanId === stream.parentSpanId);
  t.ok(http, 'its parent is the request\'s HTTP span');
  t.equal(http.scope, '@opentelemetry/instrumentation-http');
  t.equal(http.traceId, stream.traceId);
  t.match(attributes(http.attributes), { 'http.request.method': 'POST', 'http.response.status_code': 200 });
  t.match(attributes(stream.attributes), {
    'speakerd.stream.id': answer.id,
    'speakerd.stream.name': 'otlp',
    'speakerd.stream.outcome': 'ok',
    'speakerd.stream.frames': 9600,
    'speakerd.stream.underruns': 0,
    'speakerd.stream.truncated': false,
    'speakerd.device.mode': 'headless',
    'speakerd.stream.input.rate': 48000,
    'speakerd.stream.codec': 'pcm',
  });
  t.equal(attributes(stream.resource.attributes)['service.name'], 'speakerd-test');
  t.same(Object.keys(attributes(stream.resource.attributes)).sort(), ['service.name', 'service.version', 'telemetry.sdk.language', 'telemetry.sdk.name', 'telemetry.sdk.version'], 'OTLP carries the same resource as target_info: nothing about the process or machine');
  const firstFrame = stream.events.find((event: any) => event.name === 'first_frame');
  t.ok(firstFrame, 'a first_frame event');
  const [spanStart, frameAt, spanEnd] = [stream.startTimeUnixNano, firstFrame.timeUnixNano, stream.endTimeUnixNano].map((ns) => BigInt(ns));
  t.ok(spanStart! <= frameAt! && frameAt! <= spanEnd!, 'the first frame is stamped inside the stream span, after its start');
  t.ok(spans.every((span) => !String(attributes(span.attributes)['url.path'] ?? '').match(/healthz|readyz|livez|metrics/)), 'probes leave no spans');

  const frames = receiver.points('speakerd.frames.played');
  t.ok(frames.length > 0, 'metrics arrived over OTLP');
  t.equal(Number(frames.at(-1).asInt ?? frames.at(-1).asDouble), 9600);
  t.ok(receiver.points('http.server.request.duration').length > 0);

  const streamLines = server.logs.filter((line) => line.streamId === answer.id);
  t.ok(streamLines.length >= 2);
  for (const line of streamLines) {
    t.equal(line.trace_id, stream.traceId, `"${line.msg}" carries the trace id`);
    t.match(line.span_id, /^[0-9a-f]{16}$/);
  }
  t.equal(streamLines.find((line) => line.msg === 'stream played')!.span_id, http.spanId, 'the log line after playing is in the HTTP span');
  t.equal(server.logs.find((line) => line.msg === 'stopped')!.trace_id, undefined, 'lines outside a request carry no ids');
});

t.test('underruns and xruns: counted in /metrics and as events on the stream span', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  // A client that pauses 250 ms mid-body on the paced clock sink: with the
  // silence policy the stream underruns; with the wait policy the device xruns.
  // The default period, not a short one: the silence policy refills when less
  // than a period is queued, and this test is about the policy, not about how
  // late a playback thread may be when the suite's other speakerds (SCHED_FIFO
  // too) are mixing on both cores. A 256-frame period left it 5 ms.
  const pausing = async (underrun: 'silence' | 'wait') => {
    const server = await startServer(t, {
      AUDIO_MODE: 'headless', AUDIO_UNDERRUN: underrun,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    await waitForStatus(`${server.url}/readyz`, 200);
    const { writer, response } = postStreaming(`${server.url}/v1/streams?name=${underrun}`, RAW);
    writer.write(s16Pattern(4800, 2));
    await sleep(250);
    writer.write(s16Pattern(4800, 2));
    writer.end();
    const answer = (await (await response).json()) as { id: string; frames: number; underruns: number };
    const metrics = await scrape(server.url);
    server.child.kill('SIGTERM');
    await server.exited;
    const span = receiver.spans().find((candidate) => attributes(candidate.attributes)['speakerd.stream.id'] === answer.id);
    return { answer, metrics, span, events: (span?.events ?? []).map((event: any) => event.name) as string[] };
  };

  const silence = await pausing('silence');
  t.ok(silence.answer.underruns >= 1, `${silence.answer.underruns} underrun(s) in the answer`);
  t.equal(silence.metrics.value('speakerd_stream_underruns_total'), silence.answer.underruns, 'the counter agrees with the answer');
  t.equal(silence.metrics.value('speakerd_device_xruns_total'), 0, 'silence keeps the device fed');
  t.equal(silence.events.filter((name) => name === 'underrun').length, silence.answer.underruns, 'one underrun event each');
  t.equal(attributes(silence.span.attributes)['speakerd.stream.underruns'], silence.answer.underruns);

  const wait = await pausing('wait');
  t.equal(wait.answer.frames, 9600, 'every frame played after the xrun');
  t.equal(wait.metrics.value('speakerd_device_xruns_total'), 1);
  t.equal(wait.metrics.value('speakerd_stream_underruns_total'), 0);
  t.same(wait.events.filter((name) => name !== 'first_frame'), ['xrun'], 'the xrun is an event on the stream that was playing');
});

t.test('a compressed stream carries its codec and decode errors, in /metrics and on its span', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const dir = scratchDir(t);
  const server = await startServer(t, {
    ...fileDeviceEnv(path.join(dir, 'out.raw')),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100',
  });
  await waitForStatus(`${server.url}/readyz`, 200);
  const flac = Buffer.from(readFileSync(encode('flac', writeWav(dir, 'tone', toneS16(48000, 2, 48000), 48000, 2))));
  // Garbage over part of a frame: libFLAC loses sync there and counts it.
  for (let i = 0; i < 400; i++) flac[Math.floor(flac.length / 2) + i] = (i * 37) & 0xff;
  const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': 'audio/flac' }, body: flac });
  const answer = (await response.json()) as { id: string; codec: string; decodeErrors: number };
  t.equal(answer.codec, 'flac');
  t.ok(answer.decodeErrors >= 1, `${answer.decodeErrors} decode errors`);
  const wav = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(480, 2) });
  t.equal(wav.status, 200);

  const metrics = await scrape(server.url);
  t.equal(metrics.value('speakerd_streams_finished_total', { speakerd_stream_outcome: 'ok', speakerd_stream_codec: 'flac' }), 1, 'finished, by codec');
  t.equal(metrics.value('speakerd_streams_finished_total', { speakerd_stream_outcome: 'ok', speakerd_stream_codec: 'pcm' }), 1, 'and PCM as "pcm"');
  t.equal(metrics.value('speakerd_stream_decode_errors_total', { speakerd_stream_codec: 'flac' }), answer.decodeErrors, 'decode errors, by codec');
  server.child.kill('SIGTERM');
  t.same(await server.exited, [0, null]);
  const span = receiver.spans().find((candidate) => attributes(candidate.attributes)['speakerd.stream.id'] === answer.id);
  t.match(attributes(span.attributes), { 'speakerd.stream.codec': 'flac', 'speakerd.stream.decode_errors': answer.decodeErrors, 'speakerd.stream.input.format': 'S16_LE', 'speakerd.stream.input.rate': 48000 });
});

t.test('OTLP over HTTP (protobuf, the default encoding) reaches the receiver', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const server = await startServer(t, { AUDIO_MODE: 'headless', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_METRIC_EXPORT_INTERVAL: '300' });
  await waitForStatus(`${server.url}/readyz`, 200);
  t.equal((await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(480, 2) })).status, 200);
  server.child.kill('SIGTERM');
  t.same(await server.exited, [0, null]);
  const traces = receiver.received.filter((r) => r.path === '/v1/traces');
  const metrics = receiver.received.filter((r) => r.path === '/v1/metrics');
  t.ok(traces.length > 0 && metrics.length > 0);
  t.ok(traces.every((r) => r.contentType === 'application/x-protobuf'));
  // Protobuf keeps strings as UTF-8 bytes: the span's name is in there.
  t.ok(traces.some((r) => r.body.includes('speakerd.stream')));
  t.ok(metrics.some((r) => r.body.includes('speakerd.frames.played')));
});

t.test('a collector that never answers does not hold the shutdown', async (t) => {
  const silent = createServer(() => {}); // accepts and says nothing
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { silent.close(); });
  const requests: string[] = [];
  silent.on('connection', (socket) => socket.on('data', (chunk: Buffer) => requests.push(chunk.toString('latin1'))));
  // The exporter would wait 10 minutes for an answer: far past the test's
  // timeout. Exiting at all means the shutdown cut the flush short.
  const server = await startServer(t, {
    AUDIO_MODE: 'headless',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(silent.address() as { port: number }).port}`,
    OTEL_EXPORTER_OTLP_TIMEOUT: '600000',
  });
  await waitForStatus(`${server.url}/readyz`, 200);
  t.equal((await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(480, 2) })).status, 200);
  server.child.kill('SIGTERM');
  t.same(await server.exited, [0, null]);
  t.ok(requests.some((request) => request.startsWith('POST /v1/')), 'the flush reached the collector, which never answered');
  t.ok(server.logs.some((line) => line.msg === 'stopped'));
});

t.test('OTEL_SDK_DISABLED=true: no telemetry, /metrics says so, streams still play', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'headless', OTEL_SDK_DISABLED: 'true' });
  await waitForStatus(`${server.url}/readyz`, 200);
  const metrics = await fetch(`${server.url}/metrics`);
  t.equal(metrics.status, 404);
  t.match(await metrics.json(), { error: { code: 'E_METRICS_DISABLED', message: 'metrics are off: OTEL_SDK_DISABLED=true', hint: 'unset OTEL_SDK_DISABLED to serve /metrics' } });
  t.equal((await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': RAW }, body: s16Pattern(480, 2) })).status, 200);
  t.ok(server.logs.some((line) => line.msg === 'telemetry: off (OTEL_SDK_DISABLED=true)'));
  t.ok(server.logs.every((line) => line.trace_id === undefined), 'no trace ids without the SDK');
});

t.test('an OTLP protocol speakerd cannot speak is a configuration error (exit 2, named)', async (t) => {
  const [command, ...args] = nodeAsShipped([path.resolve(__dirname, '../../dist/cli.js'), 'serve']);
  const result = spawnSync(command, args, {
    env: { PATH: process.env.PATH ?? '', PORT: '0', AUDIO_MODE: 'headless', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  t.equal(result.status, 2);
  t.equal(result.stderr, 'speakerd: invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL="grpc": speakerd exports OTLP over HTTP only: use http/protobuf (the default) or http/json\n');
});
