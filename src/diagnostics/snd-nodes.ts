// The sound device directory (AUDIO_SND_DIR, normally /dev/snd): which nodes
// exist, who owns them, and whether this process can really open each one.
// A node can pass access() and still fail open(): ENXIO means no driver is
// behind it (a node made by hand, or a host without the card's module).
import { accessSync, closeSync, constants, openSync, readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { describeId, readAccountNames, type AccountNames } from './accounts';
import { errorCode, finding, guardProbe, type Finding, type ProbeResult } from './finding';

export type SndNodeKind = 'control' | 'playback' | 'capture' | 'timer' | 'seq' | 'other';

export interface SndNode {
  name: string;
  kind: SndNodeKind;
  /** The card number in controlC<card> and pcmC<card>D<device>p|c. */
  card: number | null;
  /** The PCM device number in pcmC<card>D<device>p|c. */
  device: number | null;
  characterDevice: boolean;
  /** ls -l style, e.g. "crw-rw----". */
  mode: string;
  uid: number;
  user: string | null;
  gid: number;
  group: string | null;
  /** accessSync(R_OK | W_OK) passed. */
  readWrite: boolean;
  /** The errno name when access() refused. */
  accessError: string | null;
  /** When access() passed: "ok", or the errno name of open(O_RDWR | O_NONBLOCK), e.g. "ENXIO". */
  openResult: string | null;
  /** The GID that would give this process read+write through the node's group, when that is what is missing. */
  supplementalGroup: number | null;
}

export interface SndDirReport {
  dir: string;
  present: boolean;
  /** Why the directory could not be listed (ENOENT, ENOTDIR, …), when it could not. */
  error: string | null;
  nodes: SndNode[];
}

export interface ProcessIdentity {
  uid: number;
  gid: number;
  groups: number[];
}

export interface SndNodeOptions {
  sndDir: string;
  etcPasswd: string;
  etcGroup: string;
  /** Defaults to this process's real uid, gid and supplementary groups (what access() checks). */
  identity?: ProcessIdentity;
}

const NODE_PATTERNS: [RegExp, SndNodeKind][] = [
  [/^controlC(\d+)$/, 'control'],
  [/^pcmC(\d+)D(\d+)p$/, 'playback'],
  [/^pcmC(\d+)D(\d+)c$/, 'capture'],
  [/^timer$/, 'timer'],
  [/^seq$/, 'seq'],
];

function classifyName(name: string): { kind: SndNodeKind; card: number | null; device: number | null } {
  for (const [pattern, kind] of NODE_PATTERNS) {
    const match = pattern.exec(name);
    if (match) {
      return { kind, card: match[1] === undefined ? null : Number(match[1]), device: match[2] === undefined ? null : Number(match[2]) };
    }
  }
  return { kind: 'other', card: null, device: null };
}

function fileTypeLetter(stats: Stats): string {
  if (stats.isCharacterDevice()) return 'c';
  if (stats.isBlockDevice()) return 'b';
  if (stats.isDirectory()) return 'd';
  if (stats.isFIFO()) return 'p';
  if (stats.isSocket()) return 's';
  return '-';
}

/** ls -l's mode string, e.g. 0o20660 on a character device → "crw-rw----". */
export function modeString(stats: Stats): string {
  const bits = 'rwxrwxrwx';
  let text = fileTypeLetter(stats);
  for (let i = 0; i < 9; i++) text += stats.mode & (1 << (8 - i)) ? bits[i] : '-';
  return text;
}

function currentIdentity(): ProcessIdentity {
  return { uid: process.getuid!(), gid: process.getgid!(), groups: process.getgroups!() };
}

function inGroup(identity: ProcessIdentity, gid: number): boolean {
  return identity.gid === gid || identity.groups.includes(gid);
}

// Only the owner, group and other bits decide here; root passes access()
// anyway (CAP_DAC_OVERRIDE), which the readWrite result already reflects.
function groupGrantsReadWrite(stats: Stats): boolean {
  return (stats.mode & 0o060) === 0o060;
}

function inspectNode(dir: string, name: string, identity: ProcessIdentity, names: AccountNames): SndNode | null {
  const nodePath = path.join(dir, name);
  const stats = statSync(nodePath);
  // by-id/ and by-path/ are directories of symlinks to the same nodes.
  if (stats.isDirectory()) return null;
  let readWrite = true;
  let accessError: string | null = null;
  try {
    accessSync(nodePath, constants.R_OK | constants.W_OK);
  } catch (error) {
    readWrite = false;
    accessError = errorCode(error);
  }
  let openResult: string | null = null;
  if (readWrite) {
    try {
      closeSync(openSync(nodePath, constants.O_RDWR | constants.O_NONBLOCK));
      openResult = 'ok';
    } catch (error) {
      openResult = errorCode(error);
    }
  }
  // EPERM from access() is the device cgroup (or an LSM), not the mode: no group helps.
  const supplementalGroup = !readWrite && accessError !== 'EPERM' && groupGrantsReadWrite(stats) && !inGroup(identity, stats.gid) ? stats.gid : null;
  return {
    name,
    ...classifyName(name),
    characterDevice: stats.isCharacterDevice(),
    mode: modeString(stats),
    uid: stats.uid,
    user: names.users.get(stats.uid) ?? null,
    gid: stats.gid,
    group: names.groups.get(stats.gid) ?? null,
    readWrite,
    accessError,
    openResult,
    supplementalGroup,
  };
}

function nodeFinding(node: SndNode, dir: string, identity: ProcessIdentity, names: AccountNames): Finding {
  const where = path.join(dir, node.name);
  const owner = `owner ${describeId(node.uid, names.users)}, group ${describeId(node.gid, names.groups)}, ${node.mode}`;
  if (!node.readWrite && node.accessError === 'EPERM') {
    return finding(
      'E_NODE_EPERM',
      'error',
      `${where} is refused with EPERM although its mode would allow it (${owner}): the kernel's device cgroup denies the device`,
      'the container runtime has no device rule for char 116:*: use k8s/overlays/device-plugin, or see E_SND_EPERM in docs/troubleshooting.md',
      'snd-nodes',
    );
  }
  if (!node.readWrite) {
    const who = `uid ${identity.uid}, gid ${identity.gid}, groups [${identity.groups.join(', ')}]`;
    const hint =
      node.supplementalGroup !== null
        ? `add GID ${node.supplementalGroup} to the pod's securityContext.supplementalGroups`
        : inGroup(identity, node.gid)
          ? `the node's group has no read+write (${node.mode}); fix the mode on the host (a udev rule with MODE="0660")`
          : `no group grants read+write (${node.mode}); run as uid ${node.uid} or fix the mode on the host (a udev rule with MODE="0660", GROUP="audio")`;
    return finding('E_NODE_EACCES', 'error', `${where} is not readable and writable by this process (${node.accessError}; ${owner}; process ${who})`, hint, 'snd-nodes');
  }
  if (node.openResult === 'ok') return finding('NODE_OK', 'ok', `${where} opens read+write (${owner})`, 'nothing to do', 'snd-nodes');
  if (node.openResult === 'ENXIO' || node.openResult === 'ENODEV') {
    return finding(
      'E_NODE_NO_DRIVER',
      'warning',
      `${where} is accessible but open() fails with ${node.openResult}: no driver behind the node (${owner})`,
      "the node does not belong to a card of this kernel: mount the host's real /dev/snd instead of nodes made by hand, and check that the host loaded the card's driver",
      'snd-nodes',
    );
  }
  return finding(
    'E_NODE_OPEN',
    'error',
    `${where} is accessible but open() fails with ${node.openResult} (${owner})`,
    node.openResult === 'EBUSY'
      ? 'another process holds the device (often the host\'s PulseAudio or PipeWire)'
      : node.openResult === 'EPERM'
        ? 'the device cgroup or seccomp refuses the device: see E_SND_EPERM in docs/troubleshooting.md'
        : 'see docs/troubleshooting.md',
    'snd-nodes',
  );
}

/** Lists and inspects the sound device directory. Never throws. */
export function probeSndNodes(options: SndNodeOptions): ProbeResult<SndDirReport> {
  return guardProbe<SndDirReport>('snd-nodes', () => {
    const dir = options.sndDir;
    const identity = options.identity ?? currentIdentity();
    let entries: string[];
    try {
      entries = readdirSync(dir).sort(compareNodeNames);
    } catch (error) {
      // A missing directory is the most common finding, not a probe failure:
      // classifyOpenError turns it into E_SND_ABSENT.
      return { data: { dir, present: false, error: errorCode(error), nodes: [] }, findings: [] };
    }
    const names = readAccountNames(options.etcPasswd, options.etcGroup);
    const nodes: SndNode[] = [];
    const findings: Finding[] = [];
    for (const entry of entries) {
      let node: SndNode | null;
      try {
        node = inspectNode(dir, entry, identity, names);
      } catch (error) {
        // A node can vanish between readdir and stat (a USB card unplugged).
        findings.push(finding('E_DIAG_FAILED', 'warning', `cannot inspect ${path.join(dir, entry)}: ${errorCode(error)}`, 'run the doctor again', 'snd-nodes'));
        continue;
      }
      if (!node) continue;
      nodes.push(node);
      findings.push(nodeFinding(node, dir, identity, names));
    }
    return { data: { dir, present: true, error: null, nodes }, findings };
  });
}

// controlC0, pcmC0D0p, pcmC0D1p, …, pcmC1D0p, …, seq, timer: by card, then device,
// the order a person scans for.
function compareNodeNames(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** The card numbers that have a control or PCM node. */
export function cardsFromNodes(report: SndDirReport): number[] {
  const cards = new Set<number>();
  for (const node of report.nodes) if (node.card !== null) cards.add(node.card);
  return [...cards].sort((a, b) => a - b);
}
