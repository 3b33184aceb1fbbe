// The report as plain text for a person reading `kubectl logs` or a terminal:
// the answer first (is there a playable device, and if not why and what to do),
// then the evidence, section by section.
import { describeId } from './accounts';
import type { Finding } from './finding';
import { formatSize } from './memory';
import type { DiagnosticsReport } from './report';
import type { SndNode } from './snd-nodes';

function headline(report: DiagnosticsReport): string {
  const { verdict } = report;
  return report.ok
    ? `speakerd doctor: a playable device was found: ${verdict.message}`
    : `speakerd doctor: no playable device (${verdict.code}): ${verdict.message}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd());
}

function nameOrId(id: number, name: string | null): string {
  return describeId(id, new Map(name === null ? [] : [[id, name]]));
}

function nodeRow(node: SndNode): string[] {
  return [node.name, node.kind, node.mode, nameOrId(node.uid, node.user), nameOrId(node.gid, node.group), node.readWrite ? 'yes' : `no (${node.accessError})`, node.openResult ?? '-'];
}

function pcmSection(report: DiagnosticsReport): string[] {
  const { pcm } = report;
  const lines = [`Configured PCM (AUDIO_MODE=${report.mode}, AUDIO_DEVICE=${pcm.pcm})`];
  if (!pcm.attempted) lines.push('  not opened: headless mode plays into the clock sink');
  else if (pcm.opened && pcm.info) lines.push(`  opened: ${pcm.info.format}, ${pcm.info.rate} Hz, ${pcm.info.channels} channels, period ${pcm.info.periodFrames}, buffer ${pcm.info.bufferFrames} frames`);
  else if (pcm.error) {
    lines.push(`  open failed: ${pcm.error.message} (${pcm.error.code}, errno ${pcm.error.errno})`);
    for (const message of pcm.error.alsaMessages) lines.push(`    alsa-lib: ${message}`);
  }
  return lines;
}

function sndSection(report: DiagnosticsReport): string[] {
  const { snd } = report;
  if (!snd) return ['Sound device nodes', '  unknown: the probe failed (see the findings)'];
  const lines = [`Sound device nodes (${snd.dir})`];
  if (!snd.present) return [...lines, `  not present (${snd.error})`];
  if (snd.nodes.length === 0) return [...lines, '  present but empty'];
  return [...lines, ...table([['node', 'kind', 'mode', 'owner', 'group', 'rw', 'open'], ...snd.nodes.map(nodeRow)])];
}

function cardsSection(report: DiagnosticsReport): string[] {
  const { cards } = report;
  if (!cards) return ['Cards', '  unknown: the probe failed (see the findings)'];
  const lines = [`Cards (${cards.file})`];
  if (!cards.present) return [...lines, '  not present: the kernel has no sound support, or /proc/asound is hidden from the container'];
  if (cards.cards.length === 0) return [...lines, '  none'];
  return [...lines, ...cards.cards.map((card) => `  ${card.index} [${card.id}] ${card.driver} - ${card.name}${card.longName ? ` (${card.longName})` : ''}`)];
}

function processSection(report: DiagnosticsReport): string[] {
  const state = report.process;
  if (!state) return ['Process', '  unknown: the probe failed (see the findings)'];
  const { realtime } = state;
  return [
    'Process',
    `  uid ${state.uid.join('/')}, gid ${state.gid.join('/')} (real/effective/saved/fs), groups [${state.groups.join(', ')}]`,
    `  seccomp ${state.seccompMode ?? 'unknown'} (${state.seccomp ?? '-'}), NoNewPrivs ${state.noNewPrivs === null ? 'unknown' : state.noNewPrivs ? 'yes' : 'no'}`,
    `  effective capabilities: ${state.effectiveCapabilities.length > 0 ? state.effectiveCapabilities.join(', ') : 'none'} (CapEff ${state.capEffHex})`,
    `  SCHED_FIFO ${realtime.schedFifoPossible ? 'possible' : 'not possible'}: CAP_SYS_NICE ${realtime.capSysNice ? 'held' : 'not held'}, RLIMIT_RTPRIO ${realtime.rtprioSoft ?? '?'} (hard ${realtime.rtprioHard ?? '?'})`,
  ];
}

function memorySection(report: DiagnosticsReport): string[] {
  const { memory } = report;
  if (!memory) return ['Memory', '  unknown: the probe failed (see the findings)'];
  const { cgroup, budget } = memory;
  const limit =
    cgroup.version === null ? 'no memory cgroup found' : `cgroup v${cgroup.version} limit ${cgroup.limitBytes === null ? 'unlimited' : formatSize(cgroup.limitBytes)} (${cgroup.file})`;
  return [
    'Memory',
    `  ${limit}`,
    `  may need ${formatSize(budget.neededBytes)}: V8 heap limit ${formatSize(budget.heapLimitBytes)}, ${budget.maxStreams} rings (MAX_STREAMS) of ${formatSize(budget.ringBytesPerStream)}, device buffer ${formatSize(budget.deviceBufferBytes)}, base ${formatSize(budget.baseBytes)}`,
  ];
}

function findingLines(finding: Finding): string[] {
  return [`  ${`[${finding.severity}]`.padEnd(9)} ${finding.code}: ${finding.message}`, `            fix: ${finding.hint}`];
}

export function renderReport(report: DiagnosticsReport): string {
  const rest = report.findings.filter((item) => item !== report.verdict && item.severity !== 'ok');
  const sections = [
    [headline(report), ...(report.ok ? [] : [`  fix: ${report.verdict.hint}`])],
    pcmSection(report),
    sndSection(report),
    cardsSection(report),
    processSection(report),
    memorySection(report),
    ['Other warnings and errors', ...(rest.length > 0 ? rest.flatMap(findingLines) : ['  none'])],
  ];
  return `${sections.map((lines) => lines.join('\n')).join('\n\n')}\n`;
}
