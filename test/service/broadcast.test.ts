// POST /v1/broadcast (design §2c): one POST, three speakerd instances on
// 127.0.0.2-4 (their PEERS list stands for the headless Service), each
// recording what it played over its own clock sink. The markers in the
// stream must come out of all three at the same wall-clock instants.
import t from 'tap';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';
import { markedStream, playedAtNs, pulseFrames, readTimeline } from '../sink-recording';
import { startServer, waitForStatus, type ServerProcess } from './server-process';

t.setTimeout(120_000);

const RATE = 48000;
const RAW = `audio/pcm;rate=${RATE};channels=2;format=s16le`;

interface Node {
  host: string;
  ppm: number;
  server: ServerProcess;
  raw: string;
  timeline: string;
}

async function node(t: Tap.Test, host: string, ppm: number): Promise<Node> {
  const dir = scratchDir(t);
  const raw = path.join(dir, 'out.raw');
  const timeline = path.join(dir, 'out.tl');
  const server = await startServer(t, {
    HOST: host,
    AUDIO_MODE: 'device',
    AUDIO_DEVICE: 'rec',
    AUDIO_ALSA_CONFIG: `pcm.rec { type file slave.pcm "clk" file "${raw}" format raw } pcm.clk { type speakerd_clock ppm ${ppm} timeline "${timeline}" }`,
  });
  await waitForStatus(`${server.url}/readyz`, 200);
  return { host, ppm, server, raw, timeline };
}

/** When each marker played on `node`, CLOCK_REALTIME ns (read after it stopped). */
function markerTimes(node: Node): bigint[] {
  const lines = readTimeline(node.timeline);
  return pulseFrames(node.raw).map((frame) => playedAtNs(lines, frame, node.ppm, RATE));
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  await server.exited;
}

interface BroadcastAnswer {
  at: string;
  atMs: number;
  played: number;
  failed: number;
  peers: { peer: string; status: number | null; result?: { frames: number }; error?: { code: string; message: string } }[];
}

t.test('one POST /v1/broadcast: three nodes (at +150, 0 and -150 ppm) play the markers within 1 ms of each other', async (t) => {
  const nodes = [await node(t, '127.0.0.2', 150), await node(t, '127.0.0.3', 0), await node(t, '127.0.0.4', -150)];
  const peers = nodes.map(({ host, server }) => `${host}:${new URL(server.url).port}`).join(',');
  const coordinator = await startServer(t, { AUDIO_MODE: 'headless', PEERS: peers });
  const posted = Date.now();
  const answer = await fetch(`${coordinator.url}/v1/broadcast?name=chime`, { method: 'POST', headers: { 'content-type': RAW }, body: markedStream(6, RATE / 2, RATE) });
  t.equal(answer.status, 200);
  const body = (await answer.json()) as BroadcastAnswer;
  t.equal(body.played, 3, 'every node played it');
  t.equal(body.failed, 0);
  t.ok(body.atMs >= posted + 500 && body.atMs <= Date.now(), 'at = the POST + BROADCAST_LEAD_MS (500)');
  t.same(body.peers.map(({ peer, status }) => ({ peer, status })), peers.split(',').map((peer) => ({ peer, status: 200 })), 'each node by host:port, in order');
  // Device frames: a card running fast (+150 ppm) takes 150 ppm more of them to play the same 6 s.
  const frames = body.peers.map((peer) => peer.result?.frames ?? 0);
  // The lock's ratio is never exactly 1, so its last fraction may make a frame more or less.
  t.ok(Math.abs(frames[1]! - 6 * RATE) <= 1, `the node at 0 ppm played ${frames[1]} device frames for 6 s`);
  t.ok(frames[0]! > 6 * RATE && frames[0]! <= 6 * RATE * (1 + 200e-6), `the node at +150 ppm played ${frames[0]} device frames for 6 s`);
  t.ok(frames[2]! < 6 * RATE && frames[2]! >= 6 * RATE * (1 - 200e-6), `the node at -150 ppm played ${frames[2]} device frames for 6 s`);
  await Promise.all(nodes.map(({ server }) => stop(server)));
  const times = nodes.map(markerTimes);
  for (const [i, list] of times.entries()) t.equal(list.length, 12, `${nodes[i]!.host}: 12 markers`);
  const spreadUs = times[0]!.map((_, k) => {
    const at = times.map((list) => list[k]!);
    return Number(at.reduce((a, b) => (a > b ? a : b)) - at.reduce((a, b) => (a < b ? a : b))) / 1000;
  });
  t.ok(Math.max(...spreadUs) <= 1000, `every marker within ${Math.max(...spreadUs).toFixed(1)} µs on all three nodes`);
  const offUs = times[0]!.map((time, k) => Number(time - (BigInt(Math.round(body.atMs * 1000)) * 1000n + BigInt(k) * 500_000_000n)) / 1000);
  t.ok(Math.max(...offUs.map(Math.abs)) <= 1000, `and within ${Math.max(...offUs.map(Math.abs)).toFixed(1)} µs of at + k/2 s`);
});

t.test('a node killed mid-broadcast is reported; the others play on to the end', async (t) => {
  const nodes = [await node(t, '127.0.0.2', 0), await node(t, '127.0.0.3', 0), await node(t, '127.0.0.4', 0)];
  const peers = nodes.map(({ host, server }) => `${host}:${new URL(server.url).port}`).join(',');
  const coordinator = await startServer(t, { AUDIO_MODE: 'headless', PEERS: peers });
  await waitForStatus(`${coordinator.url}/readyz`, 200);
  const answer = fetch(`${coordinator.url}/v1/broadcast`, { method: 'POST', headers: { 'content-type': RAW }, body: markedStream(4, RATE / 2, RATE) });
  // Once the middle node plays, it dies.
  const victim = nodes[1]!;
  while (!victim.server.logs.some((line) => line.msg === 'stream admitted')) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  victim.server.child.kill('SIGKILL');
  const body = (await (await answer).json()) as BroadcastAnswer;
  t.equal(body.played, 2, 'two nodes played it');
  t.equal(body.failed, 1, 'one failed');
  t.match(body.peers[1], { peer: `127.0.0.3:${new URL(victim.server.url).port}`, status: null, error: { code: 'E_PEER_UNREACHABLE', message: /^the connection to the peer failed: / } });
  for (const i of [0, 2]) {
    t.match(body.peers[i], { status: 200 });
    // 4 s at 0 ppm, give or take the frame the lock's last fraction makes.
    t.ok(Math.abs(body.peers[i]!.result!.frames - 4 * RATE) <= 1, `${nodes[i]!.host} played every frame: ${body.peers[i]!.result!.frames} device frames for 4 s`);
  }
  await Promise.all([nodes[0]!, nodes[2]!].map(({ server }) => stop(server)));
  const [first, last] = [markerTimes(nodes[0]!), markerTimes(nodes[2]!)];
  t.equal(first.length, 8);
  t.ok(Math.max(...first.map((time, k) => Math.abs(Number(time - last[k]!) / 1000))) <= 1000, 'the two that played stayed within 1 ms');
});

t.test('no peers: 503 E_NO_PEERS when PEERS_DNS does not resolve; a bad at is 400', async (t) => {
  const server = await startServer(t, { AUDIO_MODE: 'headless', PEERS_DNS: 'speakerd-peers.invalid' });
  await waitForStatus(`${server.url}/readyz`, 200);
  const none = await fetch(`${server.url}/v1/broadcast`, { method: 'POST', headers: { 'content-type': RAW }, body: Buffer.alloc(4) });
  t.equal(none.status, 503);
  t.match(await none.json(), { error: { code: 'E_NO_PEERS', message: /^no peer to broadcast to: PEERS_DNS=speakerd-peers\.invalid does not resolve \(/, hint: /PEERS=host:port/ } });
  const bad = await fetch(`${server.url}/v1/broadcast?at=soon`, { method: 'POST', headers: { 'content-type': RAW }, body: Buffer.alloc(4) });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { code: 'E_INVALID_PARAMETER', message: /got "soon"$/ } });
});
