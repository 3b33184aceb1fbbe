import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const nativeModule = path.resolve(__dirname, '../../dist/engine/native.js');

// Plays 100 ms on the clock sink and prints the log lines and whether
// SCHED_FIFO was granted.
const probe = `
  const { openClockSink } = require(${JSON.stringify(nativeModule)});
  openClockSink({ idleMs: 0 }).then(async (device) => {
    const lines = [];
    device.on('log', (line) => lines.push(line));
    const stream = device.createStream();
    stream.write(Buffer.alloc(4800 * 4));
    stream.end();
    await stream.finished();
    const realtime = device.stats().realtime;
    await device.close();
    console.log(JSON.stringify({ realtime, lines }));
  });
`;

function holdsCapSysNice(): boolean {
  const capEff = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${capEff}`) & (1n << 23n)) !== 0n;
}

t.test('with CAP_SYS_NICE the playback thread runs SCHED_FIFO and says so', async (t) => {
  const result = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 20_000 });
  t.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { realtime: boolean; lines: string[] };
  const expected = holdsCapSysNice();
  t.equal(report.realtime, expected, `SCHED_FIFO ${expected ? 'granted' : 'refused'} as the capabilities predict`);
  if (expected) t.same(report.lines, ['playback thread runs SCHED_FIFO at priority 10']);
});

t.test('without privileges SCHED_FIFO is refused, logged with the fix, and playback goes on', async (t) => {
  const result = spawnSync(
    'setpriv',
    // Root without any capability: RLIMIT_RTPRIO is 0, so only CAP_SYS_NICE
    // could allow SCHED_FIFO, and the bounding set takes it away.
    ['--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--no-new-privs', process.execPath, '-e', probe],
    { encoding: 'utf8', timeout: 20_000 },
  );
  t.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { realtime: boolean; lines: string[] };
  t.equal(report.realtime, false);
  t.same(report.lines, [
    'SCHED_FIFO priority 10 refused (Operation not permitted); playing at normal priority. Grant CAP_SYS_NICE or RLIMIT_RTPRIO to allow it.',
  ]);
});
