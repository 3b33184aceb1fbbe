import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync } from 'node:fs';
import path from 'node:path';
import { asNobody, doctorJson, scratchDir } from './fixtures/doctor-process';

// Real character device nodes with ALSA's major (116) and the minors a card 0
// has; no driver answers behind them here, since the kernel has no sound.
function makeSndDir(t: Parameters<typeof scratchDir>[0]): string {
  const dir = scratchDir(t, 'snd');
  const nodes: [name: string, minor: number, gid: number, mode: number][] = [
    ['controlC0', 0, 29, 0o660],
    ['pcmC0D0p', 16, 29, 0o660],
    // The timer's group has only read: no supplementary group can help.
    ['timer', 33, 4242, 0o640],
  ];
  for (const [name, minor, gid, mode] of nodes) {
    const node = path.join(dir, name);
    const made = spawnSync('mknod', [node, 'c', '116', String(minor)], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`mknod ${node}: ${made.stderr}`);
    chownSync(node, 0, gid);
    chmodSync(node, mode);
  }
  return dir;
}

t.test('as nobody without the audio group: E_SND_EACCES with the exact GID to add', async (t) => {
  const sndDir = makeSndDir(t);
  const { status, report } = doctorJson({ AUDIO_SND_DIR: sndDir, AUDIO_DEVICE: 'hw:0,0' }, asNobody());
  t.equal(status, 1);
  t.equal(report.ok, false);
  t.equal(report.verdict.code, 'E_SND_EACCES');
  t.equal(report.verdict.message, 'the PCM cannot be opened: controlC0 (crw-rw----, gid 29 audio), pcmC0D0p (crw-rw----, gid 29 audio) not readable and writable by this process');
  t.equal(report.verdict.hint, "add GID 29 to the pod's securityContext.supplementalGroups (supplementalGroups: [29])");
  t.same(
    report.snd!.nodes.map((node) => [node.name, node.kind, node.mode, node.uid, node.user, node.gid, node.group, node.readWrite, node.accessError, node.openResult, node.supplementalGroup]),
    [
      ['controlC0', 'control', 'crw-rw----', 0, 'root', 29, 'audio', false, 'EACCES', null, 29],
      ['pcmC0D0p', 'playback', 'crw-rw----', 0, 'root', 29, 'audio', false, 'EACCES', null, 29],
      ['timer', 'timer', 'crw-r-----', 0, 'root', 4242, null, false, 'EACCES', null, null],
    ],
  );
  const timer = report.findings.find((item) => item.code === 'E_NODE_EACCES' && item.message.startsWith(`${sndDir}/timer `));
  t.equal(timer?.hint, 'no group grants read+write (crw-r-----); run as uid 0 or fix the mode on the host (a udev rule with MODE="0660", GROUP="audio")');
  t.same(report.process!.groups, []);
  t.same(report.process!.uid, [65534, 65534, 65534, 65534]);
});

t.test('as nobody in the audio group: the nodes are read+write, open() says ENXIO, and alsa-lib finds no card', async (t) => {
  const sndDir = makeSndDir(t);
  const { status, report } = doctorJson({ AUDIO_SND_DIR: sndDir, AUDIO_DEVICE: 'hw:0,0' }, asNobody([29]));
  t.equal(status, 1);
  t.same(
    report.snd!.nodes.map((node) => [node.name, node.readWrite, node.openResult, node.supplementalGroup]),
    [
      ['controlC0', true, 'ENXIO', null],
      ['pcmC0D0p', true, 'ENXIO', null],
      ['timer', false, null, null],
    ],
  );
  const noDriver = report.findings.filter((item) => item.code === 'E_NODE_NO_DRIVER').map((item) => item.message);
  t.same(noDriver, [
    `${sndDir}/controlC0 is accessible but open() fails with ENXIO: no driver behind the node (owner 0 (root), group 29 (audio), crw-rw----)`,
    `${sndDir}/pcmC0D0p is accessible but open() fails with ENXIO: no driver behind the node (owner 0 (root), group 29 (audio), crw-rw----)`,
  ]);
  // alsa-lib always looks in the real /dev/snd, which does not exist here.
  t.same(report.pcm.error, {
    code: 'E_ALSA_OPEN',
    errno: 2,
    message: 'cannot open PCM "hw:0,0": No such file or directory',
    alsaMessages: ['snd_config_get_card: Cannot get card index for 0'],
  });
  t.equal(report.verdict.code, 'E_SND_NOCARD');
  t.equal(report.verdict.message, 'opening hw:0,0 failed: cannot open PCM "hw:0,0": No such file or directory (errno 2): no such card or device; cards: card 0 (from the node names in ' + sndDir + ')');
  t.equal(report.verdict.hint, `set AUDIO_DEVICE to a card that exists, e.g. AUDIO_DEVICE=plughw:0,0; alsa-lib opens /dev/snd, not AUDIO_SND_DIR=${sndDir}, so mount the nodes at /dev/snd`);
  t.same(report.process!.groups, [29]);
});

t.test('as root the nodes pass access() and open() reports ENXIO (no driver)', async (t) => {
  const sndDir = makeSndDir(t);
  const { report } = doctorJson({ AUDIO_SND_DIR: sndDir, AUDIO_DEVICE: 'hw:0,0' });
  t.same(report.snd!.nodes.map((node) => [node.name, node.readWrite, node.openResult]), [
    ['controlC0', true, 'ENXIO'],
    ['pcmC0D0p', true, 'ENXIO'],
    ['timer', true, 'ENXIO'],
  ]);
  t.equal(report.verdict.code, 'E_SND_NOCARD');
});
