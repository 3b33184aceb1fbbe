// Opens the configured PCM with a deadline. The open runs on a thread of its
// own (OpenJob in device_wrap.cc), and a driver stuck in open() keeps that
// thread: it cannot be taken back. So the opener gives up waiting after
// `timeoutMs` (E_ALSA_OPEN_TIMEOUT), starts no second open while one is stuck
// (each would leave one more thread stuck in the same driver), and closes the
// device if the stuck open ever returns one.
import { constants } from 'node:os';
import { openDevice as realOpenDevice, type Device, type DeviceOptions, type NativeError } from './native';

export const OPEN_TIMEOUT_CODE = 'E_ALSA_OPEN_TIMEOUT';

/**
 * Where the opener's deadline and the supervisor's backoff read the time and
 * set their timers: the system's, or a test's, so that a unit test drives
 * every timeout and retry without waiting for them.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

export type OpenDevice = (options: DeviceOptions) => Promise<Device>;

function openTimeoutError(message: string): NativeError {
  return Object.assign(new Error(message), { code: OPEN_TIMEOUT_CODE, errno: constants.errno.ETIMEDOUT, alsaMessages: [] as string[] });
}

export class DeviceOpener {
  readonly timeoutMs: number;
  readonly #openDevice: OpenDevice;
  readonly #clock: Clock;
  #stuck: Promise<void> | undefined;
  #stuckSince = 0;

  constructor(timeoutMs: number, openDevice: OpenDevice = realOpenDevice, clock: Clock = systemClock) {
    this.timeoutMs = timeoutMs;
    this.#openDevice = openDevice;
    this.#clock = clock;
  }

  /** True while an open that timed out has not returned. */
  get stuck(): boolean {
    return this.#stuck !== undefined;
  }

  /** Resolves when no open is stuck any more. */
  async settled(): Promise<void> {
    await this.#stuck;
  }

  /** Opens, or rejects with the addon's error or with E_ALSA_OPEN_TIMEOUT. */
  async open(options: DeviceOptions): Promise<Device> {
    if (this.#stuck) {
      const seconds = ((this.#clock.now() - this.#stuckSince) / 1000).toFixed(1);
      throw openTimeoutError(`cannot open PCM "${options.pcm}": an earlier open has not returned after ${seconds} s; the driver is stuck in open()`);
    }
    const opening = this.#openDevice(options);
    let timer: unknown;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = this.#clock.setTimeout(
        () => reject(openTimeoutError(`cannot open PCM "${options.pcm}": no answer within AUDIO_OPEN_TIMEOUT_MS=${this.timeoutMs} ms; the driver is stuck in open()`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([opening, deadline]);
    } catch (error) {
      if ((error as NativeError).code === OPEN_TIMEOUT_CODE) this.#abandon(opening);
      throw error;
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  #abandon(opening: Promise<Device>): void {
    this.#stuckSince = this.#clock.now();
    this.#stuck = opening
      .then(
        (device) => device.close(),
        () => undefined,
      )
      .finally(() => {
        this.#stuck = undefined;
      });
  }
}
