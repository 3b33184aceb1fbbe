// The guest's real sound cards, driven as an operator's machine would drive
// them: snd-aloop (card 0, "Loopback": what is played on hw:Loopback,0,N is
// captured on hw:Loopback,1,N) and snd-dummy (card 1, "Dummy", paced by the
// kernel's timer). scripts/kernel-vm.sh loads both before the tests run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, chmodSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../../src/project-root';

export const AUDIO_GID = 29; // Debian's audio group, as in the guest's /etc/group

/** A platform device of a sound driver, which the tests unplug by unbinding it. */
export interface BoundDevice {
  driver: string;
  device: string;
}

export const LOOPBACK: BoundDevice = { driver: 'snd_aloop', device: 'snd_aloop.0' };
export const DUMMY: BoundDevice = { driver: 'snd_dummy', device: 'snd_dummy.0' };

/**
 * Unbinds the driver: the card is unplugged as a USB card is. The kernel's
 * unbind returns only once every handle on the card is closed, so it runs in
 * a child process, and the promise resolves when it has returned.
 */
export function unplug(card: BoundDevice): { returned: Promise<number> } {
  const started = performance.now();
  const child = spawn('sh', ['-c', `echo ${card.device} > /sys/bus/platform/drivers/${card.driver}/unbind`], { stdio: 'ignore' });
  const returned = once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`unbind of ${card.device} exited ${code}`);
    return performance.now() - started;
  });
  return { returned };
}

/** Binds the driver again: the card comes back under the same index. Nodes get the audio group, as udev would give them. */
export function replug(card: BoundDevice): void {
  const result = spawnSync('sh', ['-c', `echo ${card.device} > /sys/bus/platform/drivers/${card.driver}/bind`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bind of ${card.device} failed: ${result.stderr}`);
  giveNodesToAudioGroup();
}

/** What Debian's udev rules do for sound nodes (there is no udev in the guest). */
export function giveNodesToAudioGroup(): void {
  if (!existsSync('/dev/snd')) return;
  for (const node of readdirSync('/dev/snd')) {
    const file = path.join('/dev/snd', node);
    if (statSync(file).isDirectory()) continue;
    chownSync(file, 0, AUDIO_GID);
    chmodSync(file, 0o660);
  }
}

/** Runs a command that must succeed (modprobe, rmmod). */
export function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

export function cards(): string {
  return readFileSync('/proc/asound/cards', 'utf8');
}

/**
 * A recording of the loopback's capture side, raw S16_LE stereo 48 kHz (the
 * format speakerd plays), by alsa-utils' arecord: a peer outside speakerd.
 */
export class LoopbackCapture {
  readonly #child: ChildProcess;
  readonly #file: string;
  #stderr = '';

  private constructor(child: ChildProcess, file: string) {
    this.#child = child;
    this.#file = file;
    child.stderr!.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
  }

  /** Starts arecord; resolves once it records (the file grows: the loopback's capture runs on its own clock). */
  static async start(file: string, pcm = 'hw:Loopback,1,0'): Promise<LoopbackCapture> {
    const child = spawn('arecord', ['-q', '-D', pcm, '-f', 'S16_LE', '-r', '48000', '-c', '2', '-t', 'raw', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const capture = new LoopbackCapture(child, file);
    for (;;) {
      if (child.exitCode !== null) throw new Error(`arecord exited ${child.exitCode}: ${capture.#stderr}`);
      if (existsSync(file) && statSync(file).size > 0) return capture;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Stops the recording once it holds a quarter of a second more than now,
   * and returns it. The loopback hands the capture side what was played a
   * timer tick later, and arecord writes a period at a time, so what has
   * just played is in the file only after that.
   */
  async stop(): Promise<Buffer> {
    const enough = statSync(this.#file).size + 48_000 * 4 / 4;
    while (statSync(this.#file).size < enough) {
      if (this.#child.exitCode !== null) throw new Error(`arecord exited ${this.#child.exitCode}: ${this.#stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const exited = once(this.#child, 'exit');
    this.#child.kill('SIGINT');
    await exited;
    return readFileSync(this.#file);
  }
}

/**
 * A recording of the loopback's capture side that says when each frame was
 * captured: deps/kernel/capture-timeline (test/kernel/capture-timeline.c),
 * built by bundle-guest-tests.mjs, writes the raw S16_LE stereo 48 kHz frames
 * and a line per report, "<CLOCK_REALTIME ns> <frames captured by then>".
 */
export class TimedLoopbackCapture {
  readonly #child: ChildProcess;
  readonly #raw: string;
  readonly #timeline: string;
  #stderr = '';

  private constructor(child: ChildProcess, raw: string, timeline: string) {
    this.#child = child;
    this.#raw = raw;
    this.#timeline = timeline;
    child.stderr!.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
  }

  /** Starts the recording; resolves once the card has reported captured frames. */
  static async start(raw: string, pcm = 'hw:Loopback,1,0'): Promise<TimedLoopbackCapture> {
    const timeline = `${raw}.tl`;
    const helper = path.join(projectRoot, 'deps/kernel/capture-timeline');
    const child = spawn(helper, [pcm, raw, timeline], { stdio: ['ignore', 'ignore', 'pipe'] });
    const capture = new TimedLoopbackCapture(child, raw, timeline);
    for (;;) {
      if (child.exitCode !== null) throw new Error(`capture-timeline exited ${child.exitCode}: ${capture.#stderr}`);
      if (existsSync(timeline) && statSync(timeline).size > 0) return capture;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the recording and returns its frames and its reports. */
  async stop(): Promise<{ raw: string; reports: { ns: bigint; frames: number }[] }> {
    const exited = once(this.#child, 'exit');
    this.#child.kill('SIGINT');
    const [code] = await exited;
    if (code !== 0) throw new Error(`capture-timeline exited ${code}: ${this.#stderr}`);
    const reports = readFileSync(this.#timeline, 'utf8').trim().split('\n').map((line) => {
      const [ns, frames] = line.split(' ');
      return { ns: BigInt(ns!), frames: Number(frames) };
    });
    return { raw: this.#raw, reports };
  }
}

/**
 * When captured frame `frame` was captured, CLOCK_REALTIME ns, from reports
 * around it: a report says its frames were in by its time, at the latest,
 * and a driver whose pointer moves in steps (snd-aloop: a 4 ms timer tick)
 * reports some of them late. So each report within `span` frames bounds the
 * frame's time from above, counting frames at `rate`, and the earliest bound
 * is the time.
 */
export function capturedAtNs(reports: { ns: bigint; frames: number }[], frame: number, rate: number, span = 48_000): number {
  let earliest = Infinity;
  for (const report of reports) {
    if (Math.abs(report.frames - frame) > span || report.frames <= frame) continue;
    earliest = Math.min(earliest, Number(report.ns) - ((report.frames - frame) * 1e9) / rate);
  }
  return earliest;
}

/** Where `played` starts in `recording` (frame-aligned), or -1. */
export function findPlayed(recording: Buffer, played: Buffer, frameBytes = 4): number {
  const probe = played.subarray(0, 64 * frameBytes);
  for (let at = recording.indexOf(probe); at >= 0; at = recording.indexOf(probe, at + 1)) {
    if (at % frameBytes === 0) return at;
  }
  return -1;
}

/** CPU time (user + system, in clock ticks of 10 ms) a process or one of its threads has used. */
export function cpuTicks(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The threads of `pid` with their names (/proc/PID/task/TID/comm). */
export function threads(pid: number): { tid: number; name: string }[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      return [{ tid: Number(tid), name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() }];
    } catch {
      return []; // exited while we looked
    }
  });
}

export function procStatus(pid: number, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** The lines of `pid`'s memory map (/proc/PID/maps) that map a sound device node: an open PCM's buffer and its status and control pages. */
export function soundMappings(pid: number): string[] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((line) => line.includes('/dev/snd/'));
}
