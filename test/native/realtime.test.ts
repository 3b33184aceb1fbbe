import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const nativeModule = path.resolve(__dirname, '../../dist/engine/native.js');

// Plays 100 ms on the clock sink with the period given as its argument, and
// prints the log lines, whether SCHED_FIFO was granted and the buffer.
const probe = `
  const { openClockSink } = require(${JSON.stringify(nativeModule)});
  openClockSink({ idleMs: 0, periodFrames: Number(process.argv[1]), periods: 4 }).then(async (device) => {
    const lines = [];
    device.on('log', (line) => lines.push(line));
    const stream = device.createStream();
    stream.write(Buffer.alloc(4800 * 4));
    stream.end();
    await stream.finished();
    const realtime = device.stats().realtime;
    await device.close();
    console.log(JSON.stringify({ realtime, lines, bufferFrames: device.info.bufferFrames }));
  });
`;

function holdsCapSysNice(): boolean {
  const capEff = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${capEff}`) & (1n << 23n)) !== 0n;
}

type Report = { realtime: boolean; lines: string[]; bufferFrames: number };

function runProbe(t: Tap.Test, periodFrames: number, wrapper: string[] = []): Report {
  const [command, ...args] = [...wrapper, process.execPath, '-e', probe, String(periodFrames)];
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  t.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as Report;
}

// Root without any capability: RLIMIT_RTPRIO is 0, so only CAP_SYS_NICE
// could allow SCHED_FIFO, and the bounding set takes it away.
const WITHOUT_PRIVILEGES = ['setpriv', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--no-new-privs'];

t.test('with CAP_SYS_NICE the playback thread runs SCHED_FIFO, says so, and keeps the buffer asked for', async (t) => {
  const report = runProbe(t, 256);
  const expected = holdsCapSysNice();
  t.equal(report.realtime, expected, `SCHED_FIFO ${expected ? 'granted' : 'refused'} as the capabilities predict`);
  if (expected) {
    t.same(report.lines, ['playback thread runs SCHED_FIFO at priority 10']);
    t.equal(report.bufferFrames, 4 * 256);
  }
});

t.test('without privileges SCHED_FIFO is refused, logged with the fix, and playback goes on', async (t) => {
  const report = runProbe(t, 1024, WITHOUT_PRIVILEGES);
  t.equal(report.realtime, false);
  t.equal(report.bufferFrames, 4 * 1024, '4 periods of 1024 frames (85.3 ms) are already past the 80 ms floor');
  t.same(report.lines, [
    'SCHED_FIFO priority 10 refused (Operation not permitted); playing at normal priority with a 85.3 ms buffer (at least 80 ms without SCHED_FIFO). Grant CAP_SYS_NICE or RLIMIT_RTPRIO to allow it.',
  ]);
});

t.test('without SCHED_FIFO a short buffer is deepened to 80 ms, keeping the period', async (t) => {
  const report = runProbe(t, 256, WITHOUT_PRIVILEGES);
  t.equal(report.realtime, false);
  t.equal(report.bufferFrames, 15 * 256, '15 periods of 256 frames: the first count that reaches 80 ms at 48 kHz');
  t.same(report.lines, [
    'SCHED_FIFO priority 10 refused (Operation not permitted); playing at normal priority with a 80.0 ms buffer (at least 80 ms without SCHED_FIFO). Grant CAP_SYS_NICE or RLIMIT_RTPRIO to allow it.',
  ]);
});
