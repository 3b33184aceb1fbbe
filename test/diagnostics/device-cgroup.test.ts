// E_SND_EPERM for real: the kernel's device cgroup refuses ALSA's character
// devices (major 116) the way a container runtime does for a hostPath
// /dev/snd without a device rule. The doctor runs in a private mount
// namespace whose /dev holds real 116:* nodes (alsa-lib always opens
// /dev/snd), inside a v1 devices cgroup that denies them.
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { doctorJson, scratchDir } from './fixtures/doctor-process';

function devicesCgroup(t: Parameters<typeof scratchDir>[0], deny: string | null): string {
  const own = /^\d+:devices:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
  const parent = path.join('/sys/fs/cgroup/devices', own);
  if (!existsSync(path.join(parent, 'devices.deny'))) throw new Error('this machine has no v1 devices controller');
  const cgroup = path.join(parent, `speakerd-test-${process.pid}-${deny ? 'deny' : 'allow'}`);
  mkdirSync(cgroup);
  t.teardown(() => rmdirSync(cgroup));
  if (deny) writeFileSync(path.join(cgroup, 'devices.deny'), deny);
  return cgroup;
}

// A shell prefix: builds a /dev with the basics and ALSA nodes for card 0
// in a private mount namespace, joins the cgroup, then runs the doctor.
function inContainerishDev(cgroup: string, dev: string): string[] {
  const script = [
    'set -e',
    'mount --make-rprivate /',
    `mount -t tmpfs tmpfs ${dev}`,
    `for n in null zero random urandom; do touch ${dev}/$n; mount --bind /dev/$n ${dev}/$n; done`,
    `mkdir ${dev}/snd`,
    `mknod -m 666 ${dev}/snd/controlC0 c 116 0`,
    `mknod -m 666 ${dev}/snd/pcmC0D0p c 116 16`,
    `mknod -m 666 ${dev}/snd/timer c 116 33`,
    `mount --move ${dev} /dev`,
    // Last: the cgroup also denies mknod (the "m" of rwm), as runtimes do.
    `echo $$ > ${cgroup}/cgroup.procs`,
    'exec "$@"',
  ].join('\n');
  return ['unshare', '-m', 'sh', '-c', script, 'sh'];
}

t.test('the device cgroup denying char 116:* is E_SND_EPERM, with the device-plugin fix', async (t) => {
  const dev = scratchDir(t, 'dev');
  const { status, report } = doctorJson({ AUDIO_MODE: 'device', AUDIO_DEVICE: 'hw:0,0' }, inContainerishDev(devicesCgroup(t, 'c 116:* rwm'), dev));
  t.equal(status, 1);
  // alsa-lib looks the card up by opening controlC0 first; refused, it says
  // only that card 0 does not exist. The nodes tell the real story.
  t.equal(report.pcm.error?.errno, 2, 'alsa-lib reports ENOENT, not EPERM');
  t.same(report.pcm.error?.alsaMessages, ['snd_config_get_card: Cannot get card index for 0']);
  t.equal(report.verdict.code, 'E_SND_EPERM');
  t.equal(
    report.verdict.message,
    'opening hw:0,0 failed (cannot open PCM "hw:0,0": No such file or directory) because the kernel refuses controlC0, pcmC0D0p with EPERM: the container\'s device cgroup or its seccomp profile refuses the device, not the file mode.',
  );
  t.match(report.verdict.hint, /^a hostPath of \/dev\/snd alone is not enough: the device cgroup must also allow char 116:\*\. Use k8s\/overlays\/device-plugin/);
  t.same(
    report.snd!.nodes.map((node) => [node.name, node.readWrite, node.accessError, node.supplementalGroup]),
    [
      ['controlC0', false, 'EPERM', null],
      ['pcmC0D0p', false, 'EPERM', null],
      ['timer', false, 'EPERM', null],
    ],
    'access() itself is refused with EPERM although the mode is 0666; no group would help',
  );
  const nodeFindings = report.findings.filter((item) => item.probe === 'snd-nodes').map((item) => item.code);
  t.same(nodeFindings, ['E_NODE_EPERM', 'E_NODE_EPERM', 'E_NODE_EPERM']);
});

t.test('the same nodes in a cgroup that allows them are not EPERM: no driver answers (this kernel has no sound)', async (t) => {
  const dev = scratchDir(t, 'dev');
  const { status, report } = doctorJson({ AUDIO_MODE: 'device', AUDIO_DEVICE: 'hw:0,0' }, inContainerishDev(devicesCgroup(t, null), dev));
  t.equal(status, 1);
  t.not(report.pcm.error?.errno, 1);
  t.not(report.verdict.code, 'E_SND_EPERM');
  t.same(report.snd!.nodes.map((node) => node.openResult), ['ENXIO', 'ENXIO', 'ENXIO']);
});
