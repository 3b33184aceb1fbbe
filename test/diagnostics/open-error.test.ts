import t from 'tap';
import { classifyOpenError, type OpenError } from '../../src/diagnostics/open-error';
import type { SndDirReport, SndNode } from '../../src/diagnostics/snd-nodes';
import type { SoundCard } from '../../src/diagnostics/cards';

function node(name: string, kind: SndNode['kind'], card: number | null, device: number | null, extra: Partial<SndNode> = {}): SndNode {
  return {
    name, kind, card, device,
    characterDevice: true, mode: 'crw-rw----', uid: 0, user: 'root', gid: 29, group: 'audio',
    readWrite: true, accessError: null, openResult: 'ok', supplementalGroup: null,
    ...extra,
  };
}

const cardNodes: SndDirReport = {
  dir: '/dev/snd',
  present: true,
  error: null,
  nodes: [node('controlC0', 'control', 0, null), node('pcmC0D0p', 'playback', 0, 0), node('controlC1', 'control', 1, null), node('pcmC1D3p', 'playback', 1, 3), node('timer', 'timer', null, null)],
};

const openError = (errno: number, message: string): OpenError => ({ code: 'E_ALSA_OPEN', errno, message });

t.test('no open error is OK', async (t) => {
  t.same(classifyOpenError({ nodes: cardNodes, openError: undefined, pcm: 'hw:0,0' }), { code: 'OK', severity: 'ok', message: 'hw:0,0 opens for playback', hint: 'nothing to do' });
});

t.test('an open that timed out is E_SND_OPEN_TIMEOUT, whatever the nodes say', async (t) => {
  const message = 'cannot open PCM "hw:0,0": no answer within AUDIO_OPEN_TIMEOUT_MS=300 ms; the driver is stuck in open()';
  const result = classifyOpenError({ nodes: cardNodes, openError: { code: 'E_ALSA_OPEN_TIMEOUT', errno: 110, message }, pcm: 'hw:0,0' });
  t.same(result, {
    code: 'E_SND_OPEN_TIMEOUT',
    severity: 'error',
    message: `${message}. speakerd keeps serving (headless in auto mode) and tries again once that open returns`,
    hint: 'a USB card may need longer to initialise: raise AUDIO_OPEN_TIMEOUT_MS; if it never answers, the driver hangs: check `dmesg` on the node and replug or reload the card',
  });
});

t.test('a device lost during playback is E_SND_LOST: reopening, no restart', async (t) => {
  const result = classifyOpenError({ nodes: { ...cardNodes, nodes: [] }, openError: { code: 'E_DEVICE_LOST', errno: 19, message: 'PCM "hw:1,0": mmap_commit failed: No such device' }, pcm: 'hw:1,0' });
  t.equal(result.code, 'E_SND_LOST');
  t.equal(result.message, 'hw:1,0 was lost during playback: PCM "hw:1,0": mmap_commit failed: No such device');
  t.match(result.hint, /reopens it by itself with backoff \(readiness is 503 meanwhile, liveness stays 200/);
});

t.test('errno 1 is E_SND_EPERM: the device cgroup or seccomp, and a hostPath alone is not enough', async (t) => {
  const result = classifyOpenError({ nodes: cardNodes, openError: openError(1, 'cannot open PCM "hw:0,0": Operation not permitted'), pcm: 'hw:0,0' });
  t.equal(result.code, 'E_SND_EPERM');
  t.equal(result.severity, 'error');
  t.equal(result.message, "opening hw:0,0 failed with EPERM: the container's device cgroup or its seccomp profile refuses the device, not the file mode.");
  t.equal(
    result.hint,
    'a hostPath of /dev/snd alone is not enough: the device cgroup must also allow char 116:*. Use k8s/overlays/device-plugin (a device plugin such as squat/generic-device-plugin grants the device) or apply the settings documented in k8s/overlays/hostpath; and check that the seccomp profile allows ioctl on the device',
  );
});

t.test('EPERM under a seccomp filter names seccomp as a suspect', async (t) => {
  const result = classifyOpenError({ nodes: cardNodes, openError: openError(1, 'x'), pcm: 'hw:0,0', seccomp: 2 });
  t.match(result.message, / This process runs under a seccomp filter \(Seccomp: 2\), so the profile may be what refuses it\.$/);
});

t.test('errno 16 is E_SND_EBUSY: another process holds the device', async (t) => {
  const result = classifyOpenError({ nodes: cardNodes, openError: openError(16, 'cannot open PCM "hw:0,0": Device or resource busy'), pcm: 'hw:0,0' });
  t.same(result, {
    code: 'E_SND_EBUSY',
    severity: 'error',
    message: 'opening hw:0,0 failed with EBUSY: another process holds the device',
    hint: "a hw device takes one client at a time: stop the host's PulseAudio or PipeWire (or whatever `fuser -v /dev/snd/*` on the host shows), or give speakerd a card of its own",
  });
});

t.test('ENOENT with nodes present is E_SND_NOCARD and lists the cards of /proc/asound/cards', async (t) => {
  const cards: SoundCard[] = [
    { index: 0, id: 'PCH', driver: 'HDA-Intel', name: 'HDA Intel PCH', longName: '' },
    { index: 1, id: 'Device', driver: 'USB-Audio', name: 'USB Audio Device', longName: '' },
  ];
  const result = classifyOpenError({ nodes: cardNodes, openError: openError(2, 'cannot open PCM "hw:5,0": No such file or directory'), cards, pcm: 'hw:5,0' });
  t.same(result, {
    code: 'E_SND_NOCARD',
    severity: 'error',
    message: 'opening hw:5,0 failed: cannot open PCM "hw:5,0": No such file or directory (errno 2): no such card or device; cards: 0 PCH (HDA Intel PCH), 1 Device (USB Audio Device)',
    hint: 'set AUDIO_DEVICE to a card that exists, e.g. AUDIO_DEVICE=plughw:0,0',
  });
});

t.test('ENODEV without /proc/asound/cards names the cards from the node names', async (t) => {
  const result = classifyOpenError({ nodes: { ...cardNodes, dir: '/mnt/snd' }, openError: openError(19, 'cannot open PCM "hw:CARD=foo": No such device'), pcm: 'hw:CARD=foo' });
  t.equal(result.code, 'E_SND_NOCARD');
  t.equal(result.message, 'opening hw:CARD=foo failed: cannot open PCM "hw:CARD=foo": No such device (errno 19): no such card or device; cards: card 0, card 1 (from the node names in /mnt/snd)');
  t.equal(result.hint, 'set AUDIO_DEVICE to a card that exists, e.g. AUDIO_DEVICE=plughw:0,0; alsa-lib opens /dev/snd, not AUDIO_SND_DIR=/mnt/snd, so mount the nodes at /dev/snd');
});

t.test('errno 13 is E_SND_EACCES with the exact GIDs for supplementalGroups', async (t) => {
  const denied: SndDirReport = {
    ...cardNodes,
    nodes: [
      node('controlC0', 'control', 0, null, { readWrite: false, accessError: 'EACCES', openResult: null, supplementalGroup: 29 }),
      node('pcmC0D0p', 'playback', 0, 0, { readWrite: false, accessError: 'EACCES', openResult: null, supplementalGroup: 29 }),
      node('pcmC1D0p', 'playback', 1, 0, { gid: 995, group: null, readWrite: false, accessError: 'EACCES', openResult: null, supplementalGroup: 995 }),
    ],
  };
  const result = classifyOpenError({ nodes: denied, openError: openError(13, 'cannot open PCM "hw:0,0": Permission denied'), pcm: 'hw:0,0' });
  t.same(result, {
    code: 'E_SND_EACCES',
    severity: 'error',
    message: 'opening hw:0,0 failed with EACCES: controlC0 (crw-rw----, gid 29 audio), pcmC0D0p (crw-rw----, gid 29 audio), pcmC1D0p (crw-rw----, gid 995) not readable and writable by this process',
    hint: "add GID 29 and 995 to the pod's securityContext.supplementalGroups (supplementalGroups: [29, 995])",
  });
});

t.test('no playback node, or no directory at all, is E_SND_ABSENT naming the overlays', async (t) => {
  const missing: SndDirReport = { dir: '/dev/snd', present: false, error: 'ENOENT', nodes: [] };
  const result = classifyOpenError({ nodes: missing, openError: openError(2, 'cannot open PCM "plughw:0,0": No such file or directory'), pcm: 'plughw:0,0' });
  t.equal(result.code, 'E_SND_ABSENT');
  t.equal(result.message, 'no playback device: /dev/snd does not exist (ENOENT); opening plughw:0,0 failed: cannot open PCM "plughw:0,0": No such file or directory');
  t.match(result.hint, /^\/dev\/snd is not mounted into the container: deploy with k8s\/overlays\/device-plugin \(a device plugin such as squat\/generic-device-plugin/);
  const controlOnly: SndDirReport = { ...cardNodes, nodes: [node('controlC0', 'control', 0, null), node('timer', 'timer', null, null)] };
  const withCards = classifyOpenError({ nodes: controlOnly, openError: openError(2, 'x'), pcm: 'hw:0,0', cards: [{ index: 0, id: 'PCH', driver: 'HDA-Intel', name: 'HDA Intel PCH', longName: '' }] });
  t.equal(withCards.code, 'E_SND_ABSENT');
  t.equal(withCards.message, 'no playback device: /dev/snd has no playback node (pcmC*D*p); the host has 1 card(s), so the nodes are there but not in this container; opening hw:0,0 failed: x');
});

t.test('an errno with no reading of its own is E_SND_OPEN with the message', async (t) => {
  const result = classifyOpenError({ nodes: cardNodes, openError: openError(22, 'cannot set hw params: Invalid argument'), pcm: 'hw:0,0' });
  t.equal(result.code, 'E_SND_OPEN');
  t.equal(result.message, 'opening hw:0,0 failed: cannot set hw params: Invalid argument (E_ALSA_OPEN, errno 22)');
});
