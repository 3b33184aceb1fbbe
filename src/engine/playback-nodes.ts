// Whether AUDIO_SND_DIR holds playback nodes (pcmC*D*p), and a watch for
// them appearing or going: a USB DAC plugged in, or a device plugin that
// hands the pod /dev/snd after start. inotify (fs.watch) answers at once; a
// slow poll covers a directory that does not exist yet (inotify cannot watch
// it) and filesystems that send no events.
import { readdirSync, watch, type FSWatcher } from 'node:fs';

const PLAYBACK_NODE = /^pcmC\d+D\d+p$/;

/** The playback nodes in `dir`, sorted; an empty list when there are none or the directory is missing. */
export function playbackNodes(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => PLAYBACK_NODE.test(name)).sort();
  } catch {
    return [];
  }
}

/** Why auto mode should not try the card, or undefined when playback nodes exist. */
export function playbackNodesAbsentReason(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    return `${dir} is not there (${(error as NodeJS.ErrnoException).code ?? 'error'}): no sound device is mounted into the container`;
  }
  if (!names.some((name) => PLAYBACK_NODE.test(name))) {
    const found = names.length > 0 ? names.sort().join(', ') : 'nothing';
    return `${dir} has no playback node (pcmC*D*p); found ${found}`;
  }
  return undefined;
}

export class PlaybackNodeWatcher {
  readonly #dir: string;
  readonly #onChange: (nodes: string[]) => void;
  readonly #pollMs: number;
  #last: string;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;

  /** Calls `onChange` with the new list whenever the set of playback nodes changes. */
  constructor(dir: string, onChange: (nodes: string[]) => void, pollMs = 2000) {
    this.#dir = dir;
    this.#onChange = onChange;
    this.#pollMs = pollMs;
    this.#last = playbackNodes(dir).join(',');
  }

  start(): void {
    if (this.#poll) return;
    this.#watchDir();
    // Unref'd: a watch never keeps the process alive.
    this.#poll = setInterval(() => {
      this.#watchDir();
      this.#check();
    }, this.#pollMs).unref();
  }

  stop(): void {
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    this.#poll = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #watchDir(): void {
    if (this.#watcher) return;
    try {
      // udev creates a card's nodes one by one: settle for a moment first.
      this.#watcher = watch(this.#dir, { persistent: false }, () => {
        clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => this.#check(), 100).unref();
      });
      this.#watcher.on('error', () => {
        // The directory went away (a device plugin detached it): poll until it is back.
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      this.#watcher = undefined;
    }
  }

  #check(): void {
    const nodes = playbackNodes(this.#dir);
    const key = nodes.join(',');
    if (key === this.#last) return;
    this.#last = key;
    this.#onChange(nodes);
  }
}
