import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { buildReport, type PcmOpenAttempt } from '../../src/diagnostics/report';
import { asNobody, scratchDir } from './fixtures/doctor-process';

const notAttempted: PcmOpenAttempt = { pcm: 'hw:0,0', attempted: true, opened: false, error: { code: 'E_ALSA_OPEN', errno: 2, message: 'no card', alsaMessages: [] }, info: null };

t.test('probes pointed at a directory or a broken file report E_DIAG_FAILED and do not throw', async (t) => {
  const dir = scratchDir(t, 'broken');
  mkdirSync(path.join(dir, 'a-directory'));
  writeFileSync(path.join(dir, 'cgroup'), '0::/\n');
  mkdirSync(path.join(dir, 'sys'));
  writeFileSync(path.join(dir, 'sys', 'cgroup.controllers'), 'memory');
  writeFileSync(path.join(dir, 'sys', 'memory.max'), 'a lot\n');
  const directory = path.join(dir, 'a-directory');
  const report = buildReport(loadConfig({}), notAttempted, {
    paths: { sndDir: path.join(dir, 'no-snd'), procStatus: directory, procLimits: directory, procCgroup: path.join(dir, 'cgroup'), cgroupRoot: path.join(dir, 'sys'), asoundCards: directory },
  });
  t.same(
    report.findings.filter((item) => item.code === 'E_DIAG_FAILED').map((item) => [item.probe, item.message]),
    [
      ['process', "the process probe failed: EISDIR: illegal operation on a directory, read"],
      ['memory', 'the memory probe failed: not a memory limit: "a lot"'],
      ['cards', "the cards probe failed: EISDIR: illegal operation on a directory, read"],
    ],
  );
  t.equal(report.process, null);
  t.equal(report.memory, null);
  t.equal(report.cards, null);
  // The verdict still comes from what could be probed.
  t.equal(report.verdict.code, 'E_SND_ABSENT');
});

t.test('a status file the process may not read is E_DIAG_FAILED, not a crash', async (t) => {
  const dir = scratchDir(t, 'unreadable');
  const status = path.join(dir, 'status');
  writeFileSync(status, 'Uid:\t0\t0\t0\t0\n');
  chmodSync(status, 0o000);
  const reportModule = path.resolve(__dirname, '../../dist/diagnostics/report.js');
  const configModule = path.resolve(__dirname, '../../dist/config.js');
  const script = `
    const { buildReport } = require(${JSON.stringify(reportModule)});
    const { loadConfig } = require(${JSON.stringify(configModule)});
    const report = buildReport(loadConfig({}), { pcm: 'x', attempted: false, opened: false, error: null, info: null }, { paths: { procStatus: ${JSON.stringify(status)} } });
    console.log(JSON.stringify(report.findings.filter((item) => item.code === 'E_DIAG_FAILED')));
  `;
  const [command, ...args] = [...asNobody(), process.execPath, '-e', script];
  const result = spawnSync(command!, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: '/tmp' } });
  t.equal(result.status, 0, result.stderr);
  t.same(JSON.parse(result.stdout), [
    {
      code: 'E_DIAG_FAILED',
      severity: 'warning',
      message: `the process probe failed: EACCES: permission denied, open '${status}'`,
      hint: 'the rest of the report is still valid; check that the path exists and is readable by this process',
      probe: 'process',
    },
  ]);
});

t.test('an AUDIO_SND_DIR that is a file is reported as absent, not as a failure', async (t) => {
  const dir = scratchDir(t, 'snd-file');
  writeFileSync(path.join(dir, 'snd'), '');
  const report = buildReport(loadConfig({ AUDIO_SND_DIR: path.join(dir, 'snd') }), notAttempted);
  t.same(report.snd, { dir: path.join(dir, 'snd'), present: false, error: 'ENOTDIR', nodes: [] });
  t.equal(report.verdict.code, 'E_SND_ABSENT');
});
