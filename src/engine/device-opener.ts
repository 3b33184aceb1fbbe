// Opens the configured PCM with a deadline. The open runs on a thread of its
// own (OpenJob in device_wrap.cc), and a driver stuck in open() keeps that
// thread: it cannot be taken back. So the opener gives up waiting after
// `timeoutMs` (E_ALSA_OPEN_TIMEOUT), starts no second open while one is stuck
// (each would leave one more thread stuck in the same driver), and closes the
// device if the stuck open ever returns one.
import { constants } from 'node:os';
import { openDevice, type Device, type DeviceOptions, type NativeError } from './native';

export const OPEN_TIMEOUT_CODE = 'E_ALSA_OPEN_TIMEOUT';

function openTimeoutError(message: string): NativeError {
  return Object.assign(new Error(message), { code: OPEN_TIMEOUT_CODE, errno: constants.errno.ETIMEDOUT, alsaMessages: [] as string[] });
}

export class DeviceOpener {
  readonly timeoutMs: number;
  #stuck: Promise<void> | undefined;
  #stuckSince = 0;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
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
      const seconds = ((Date.now() - this.#stuckSince) / 1000).toFixed(1);
      throw openTimeoutError(`cannot open PCM "${options.pcm}": an earlier open has not returned after ${seconds} s; the driver is stuck in open()`);
    }
    const opening = openDevice(options);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
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
      clearTimeout(timer);
    }
  }

  #abandon(opening: Promise<Device>): void {
    this.#stuckSince = Date.now();
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
