// Why the configured PCM did not open, as one code and one thing to do. The
// errno alone is ambiguous in a container (ENOENT is both "nothing mounted"
// and "wrong card name"), so the device nodes decide between the readings.
import { constants } from 'node:os';
import type { SoundCard } from './cards';
import { finding, type Finding } from './finding';
import { cardsFromNodes, type SndDirReport } from './snd-nodes';

/** The parts of a NativeError (E_ALSA_OPEN from the addon) that classify it. */
export interface OpenError {
  code: string;
  errno: number;
  message: string;
}

export interface OpenErrorInput {
  nodes: SndDirReport;
  /** The addon's error from openDevice, or undefined when the PCM opened. */
  openError: OpenError | undefined;
  /** Cards from /proc/asound/cards when the file exists; otherwise cards are named from the nodes. */
  cards?: SoundCard[] | undefined;
  /** The configured AUDIO_DEVICE, for the message. */
  pcm?: string;
  /** The process's seccomp mode from /proc/self/status, when known: 2 makes seccomp a suspect for EPERM. */
  seccomp?: number | null;
}

const { EPERM, ENOENT, ENXIO, EACCES, EBUSY, ENODEV } = constants.errno;

// alsa-lib itself always opens /dev/snd; AUDIO_SND_DIR only tells the doctor where to look.
const ALSA_SND_DIR = '/dev/snd';

// Nodes the kernel refuses whatever their mode: the device cgroup's answer.
function kernelDeniedNodes(nodes: SndDirReport) {
  return nodes.nodes.filter((node) => (node.kind === 'control' || node.kind === 'playback') && (node.accessError === 'EPERM' || node.openResult === 'EPERM'));
}

function hasPlaybackNode(nodes: SndDirReport): boolean {
  return nodes.nodes.some((node) => node.kind === 'playback');
}

// The nodes a PCM open needs (the card's control node and its playback PCMs)
// that this process cannot read and write.
function unusableNodes(nodes: SndDirReport) {
  return nodes.nodes.filter((node) => (node.kind === 'control' || node.kind === 'playback') && !node.readWrite);
}

function absent(input: OpenErrorInput, pcm: string): Finding {
  const { nodes } = input;
  const where = !nodes.present ? `${nodes.dir} does not exist (${nodes.error})` : `${nodes.dir} has no playback node (pcmC*D*p)`;
  const cardsSeen = input.cards && input.cards.length > 0 ? `; the host has ${input.cards.length} card(s), so the nodes are there but not in this container` : '';
  return finding(
    'E_SND_ABSENT',
    'error',
    `no playback device: ${where}${cardsSeen}${input.openError ? `; opening ${pcm} failed: ${input.openError.message}` : ''}`,
    "/dev/snd is not mounted into the container: deploy with k8s/overlays/device-plugin (a device plugin such as squat/generic-device-plugin hands the pod /dev/snd) or k8s/overlays/hostpath; use k8s/overlays/headless (AUDIO_MODE=headless) on nodes without sound",
  );
}

function permissionDenied(input: OpenErrorInput, pcm: string): Finding {
  const denied = unusableNodes(input.nodes);
  const gids = [...new Set(denied.map((node) => node.supplementalGroup).filter((gid): gid is number => gid !== null))].sort((a, b) => a - b);
  const names = denied.map((node) => `${node.name} (${node.mode}, gid ${node.gid}${node.group ? ` ${node.group}` : ''})`).join(', ');
  const cause = input.openError?.errno === EACCES ? `opening ${pcm} failed with EACCES` : `the PCM cannot be opened`;
  const message = denied.length > 0 ? `${cause}: ${names} not readable and writable by this process` : `${cause}: permission denied by the node's mode or group`;
  const hint =
    gids.length > 0
      ? `add GID ${gids.join(' and ')} to the pod's securityContext.supplementalGroups (supplementalGroups: [${gids.join(', ')}])`
      : denied.length > 0
        ? 'no group of these nodes grants read+write: fix their mode on the host (a udev rule with MODE="0660", GROUP="audio") and add that GID to supplementalGroups'
        : `add the GID that owns ${input.nodes.dir}'s nodes to securityContext.supplementalGroups`;
  return finding('E_SND_EACCES', 'error', message, hint);
}

function cardList(input: OpenErrorInput): string {
  if (input.cards && input.cards.length > 0) {
    return input.cards.map((card) => `${card.index} ${card.id} (${card.name})`).join(', ');
  }
  const fromNodes = cardsFromNodes(input.nodes);
  return fromNodes.length > 0 ? `${fromNodes.map((card) => `card ${card}`).join(', ')} (from the node names in ${input.nodes.dir})` : 'none';
}

function firstPlaybackDevice(input: OpenErrorInput): string | undefined {
  const node = input.nodes.nodes.find((candidate) => candidate.kind === 'playback');
  return node ? `plughw:${node.card},${node.device}` : undefined;
}

function noCard(input: OpenErrorInput, error: OpenError, pcm: string): Finding {
  const suggestion = firstPlaybackDevice(input);
  const elsewhere = input.nodes.dir !== ALSA_SND_DIR ? `; alsa-lib opens ${ALSA_SND_DIR}, not AUDIO_SND_DIR=${input.nodes.dir}, so mount the nodes at ${ALSA_SND_DIR}` : '';
  return finding(
    'E_SND_NOCARD',
    'error',
    `opening ${pcm} failed: ${error.message} (errno ${error.errno}): no such card or device; cards: ${cardList(input)}`,
    `set AUDIO_DEVICE to a card that exists${suggestion ? `, e.g. AUDIO_DEVICE=${suggestion}` : ''}${elsewhere}`,
  );
}

/** Maps the configured PCM's open result to one finding: OK, or an E_SND_* code with its fix. Pure. */
export function classifyOpenError(input: OpenErrorInput): Finding {
  const { nodes, openError } = input;
  const pcm = input.pcm ?? 'the PCM';
  if (!openError) return finding('OK', 'ok', `${pcm} opens for playback`, 'nothing to do');
  // Codes from speakerd itself, not from the kernel: they say more than the errno.
  if (openError.code === 'E_ALSA_OPEN_TIMEOUT') {
    return finding(
      'E_SND_OPEN_TIMEOUT',
      'error',
      `${openError.message}. speakerd keeps serving (headless in auto mode) and tries again once that open returns`,
      'a USB card may need longer to initialise: raise AUDIO_OPEN_TIMEOUT_MS; if it never answers, the driver hangs: check `dmesg` on the node and replug or reload the card',
    );
  }
  if (openError.code === 'E_DEVICE_LOST') {
    return finding(
      'E_SND_LOST',
      'error',
      `${pcm} was lost during playback: ${openError.message}`,
      'a USB card was unplugged or the driver reset: speakerd reopens it by itself with backoff (readiness is 503 meanwhile, liveness stays 200, so no restart happens); plug the card back in',
    );
  }
  // The kernel's own answers come first: they hold whatever the nodes look
  // like. A device cgroup that denies the card often does not reach alsa-lib
  // as EPERM at all (its card lookup fails first and says ENOENT), so nodes
  // that the kernel refuses with EPERM decide too.
  const deniedNodes = kernelDeniedNodes(nodes);
  if (openError.errno === EPERM || deniedNodes.length > 0) {
    const seccompNote = input.seccomp === 2 ? ' This process runs under a seccomp filter (Seccomp: 2), so the profile may be what refuses it.' : '';
    const cause =
      openError.errno === EPERM
        ? `opening ${pcm} failed with EPERM`
        : `opening ${pcm} failed (${openError.message}) because the kernel refuses ${deniedNodes.map((node) => node.name).join(', ')} with EPERM`;
    return finding(
      'E_SND_EPERM',
      'error',
      `${cause}: the container's device cgroup or its seccomp profile refuses the device, not the file mode.${seccompNote}`,
      'a hostPath of /dev/snd alone is not enough: the device cgroup must also allow char 116:*. Use k8s/overlays/device-plugin (a device plugin such as squat/generic-device-plugin grants the device) or apply the settings documented in k8s/overlays/hostpath; and check that the seccomp profile allows ioctl on the device',
    );
  }
  if (openError.errno === EBUSY) {
    return finding(
      'E_SND_EBUSY',
      'error',
      `opening ${pcm} failed with EBUSY: another process holds the device`,
      "a hw device takes one client at a time: stop the host's PulseAudio or PipeWire (or whatever `fuser -v /dev/snd/*` on the host shows), or give speakerd a card of its own",
    );
  }
  if (openError.errno === EACCES) return permissionDenied(input, pcm);
  if (!hasPlaybackNode(nodes)) return absent(input, pcm);
  if (unusableNodes(nodes).length > 0) return permissionDenied(input, pcm);
  if (openError.errno === ENOENT || openError.errno === ENODEV || openError.errno === ENXIO) return noCard(input, openError, pcm);
  return finding(
    'E_SND_OPEN',
    'error',
    `opening ${pcm} failed: ${openError.message} (${openError.code}, errno ${openError.errno})`,
    'read alsa-lib\'s messages in the report; the device nodes and process state below show what the container allows',
  );
}
