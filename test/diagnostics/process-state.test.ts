import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { probeProcessState, parseProcessStatus, decodeCapabilities } from '../../src/diagnostics/process-state';
import { doctorJson, scratchDir } from './fixtures/doctor-process';

const headless = { AUDIO_MODE: 'headless' };

function ownCapEff(): string {
  return /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
}

t.test('under setpriv without capabilities and with no_new_privs: NoNewPrivs, no capabilities, no SCHED_FIFO', async (t) => {
  const { report } = doctorJson(headless, ['setpriv', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--no-new-privs']);
  const state = report.process!;
  t.equal(state.noNewPrivs, true);
  t.same(state.effectiveCapabilities, []);
  t.equal(state.capEffHex, '0000000000000000');
  t.equal(state.realtime.capSysNice, false);
  // RLIMIT_RTPRIO is 0 on this machine, so nothing allows SCHED_FIFO.
  t.equal(state.realtime.rtprioSoft, 0);
  t.equal(state.realtime.schedFifoPossible, false);
  const realtime = report.findings.find((item) => item.code === 'E_NO_REALTIME');
  t.equal(realtime?.message, 'SCHED_FIFO is not allowed: no CAP_SYS_NICE and RLIMIT_RTPRIO is 0 (below 10); playback runs at normal priority with at least an 80 ms device buffer, and may still underrun when the node is overloaded');
});

t.test('as root the capabilities are the decode of the child\'s CapEff, which is ours', async (t) => {
  const { report } = doctorJson(headless);
  const state = report.process!;
  const capEff = ownCapEff();
  t.equal(state.capEffHex, capEff);
  t.equal(state.noNewPrivs, false);
  t.same(state.uid, [0, 0, 0, 0]);
  // Checked against linux/capability.h's bit numbers by hand, not the module's table.
  const mask = BigInt(`0x${capEff}`);
  const expectations: [bit: number, name: string][] = [[0, 'CAP_CHOWN'], [1, 'CAP_DAC_OVERRIDE'], [12, 'CAP_NET_ADMIN'], [21, 'CAP_SYS_ADMIN'], [23, 'CAP_SYS_NICE'], [24, 'CAP_SYS_RESOURCE'], [40, 'CAP_CHECKPOINT_RESTORE']];
  for (const [bit, name] of expectations) {
    t.equal(state.effectiveCapabilities.includes(name), (mask & (1n << BigInt(bit))) !== 0n, `${name} (bit ${bit}) decoded as CapEff says`);
  }
  const bitsSet = [...mask.toString(2)].filter((digit) => digit === '1').length;
  t.equal(state.effectiveCapabilities.length, bitsSet);
  t.equal(state.realtime.schedFifoPossible, state.effectiveCapabilities.includes('CAP_SYS_NICE'));
});

t.test('capability masks decode by bit number; unknown bits keep their number', async (t) => {
  t.same(decodeCapabilities('0000000000000000'), []);
  t.same(decodeCapabilities('0000000000800001'), ['CAP_CHOWN', 'CAP_SYS_NICE']);
  t.same(decodeCapabilities('0000080000000400'), ['CAP_NET_BIND_SERVICE', 'CAP_43']);
});

// A child with a real seccomp filter, with only what scripts/setup.sh
// installs: python3's ctypes calls prctl(PR_SET_SECCOMP) with a one-rule
// filter that allows every syscall, then execs the doctor. The mode survives exec.
const allowAllSeccomp = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
rule = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000))  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
prog = SockFprog(1, ctypes.cast(rule, ctypes.c_void_p))
if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    sys.exit("prctl(PR_SET_SECCOMP): errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
`;

t.test('a child under a seccomp filter reports seccomp mode 2 (filter)', async (t) => {
  const { report } = doctorJson(headless, ['/usr/bin/python3', '-c', allowAllSeccomp]);
  t.equal(report.process!.seccomp, 2);
  t.equal(report.process!.seccompMode, 'filter');
  // Root with CAP_SYS_ADMIN may install a filter without no_new_privs.
  t.equal(report.process!.noNewPrivs, false);
});

t.test('the status parser reads Seccomp, NoNewPrivs, ids and groups from a status file', async (t) => {
  const dir = scratchDir(t, 'status');
  const status = path.join(dir, 'status');
  const limits = path.join(dir, 'limits');
  writeFileSync(
    status,
    ['Name:\tnode', 'Uid:\t10001\t10001\t10001\t10001', 'Gid:\t10001\t10001\t10001\t10001', 'Groups:\t29 10001 ', 'CapInh:\t0000000000000000', 'CapEff:\t0000000000800000', 'NoNewPrivs:\t1', 'Seccomp:\t2', 'Seccomp_filters:\t1', ''].join('\n'),
  );
  writeFileSync(limits, 'Limit                     Soft Limit           Hard Limit           Units     \nMax realtime priority     10                   20                   \n');
  const result = probeProcessState({ procStatus: status, procLimits: limits });
  t.same(result.data, {
    uid: [10001, 10001, 10001, 10001],
    gid: [10001, 10001, 10001, 10001],
    groups: [29, 10001],
    seccomp: 2,
    seccompMode: 'filter',
    noNewPrivs: true,
    capEffHex: '0000000000800000',
    effectiveCapabilities: ['CAP_SYS_NICE'],
    realtime: { rtprioSoft: 10, rtprioHard: 20, capSysNice: true, schedFifoPossible: true },
  });
  t.same(result.findings.map((item) => item.code), ['REALTIME_OK']);
  t.equal(parseProcessStatus('Uid:\t0\t0\t0\t0\nSeccomp:\t1\n').seccompMode, 'strict');
  t.equal(parseProcessStatus('Uid:\t0\t0\t0\t0\n').seccomp, null, 'a kernel without seccomp has no Seccomp line');
});

t.test('RLIMIT_RTPRIO of at least 10 allows SCHED_FIFO without CAP_SYS_NICE', async (t) => {
  const dir = scratchDir(t, 'rtprio');
  writeFileSync(path.join(dir, 'status'), 'Uid:\t1\t1\t1\t1\nCapEff:\t0000000000000000\n');
  writeFileSync(path.join(dir, 'limits'), 'Max realtime priority     9                    unlimited            \n');
  const low = probeProcessState({ procStatus: path.join(dir, 'status'), procLimits: path.join(dir, 'limits') });
  t.same(low.data!.realtime, { rtprioSoft: 9, rtprioHard: 99, capSysNice: false, schedFifoPossible: false });
  writeFileSync(path.join(dir, 'limits'), 'Max realtime priority     unlimited            unlimited            \n');
  const high = probeProcessState({ procStatus: path.join(dir, 'status'), procLimits: path.join(dir, 'limits') });
  t.equal(high.data!.realtime.schedFifoPossible, true);
  t.equal(high.findings[0]!.message, 'the playback thread may run SCHED_FIFO at priority 10 (RLIMIT_RTPRIO is 99)');
});
