// Stand-ins for the supervisor's collaborators: a device that the test makes
// fail, and opens that answer when the test says so. The real alsa-lib paths
// are covered end to end (test/service/device-loss.test.ts, test/native/).
import { EventEmitter } from 'node:events';
import type { Device, DeviceInfo, DeviceOptions, NativeError } from '../../src/engine/native';

export class FakeDevice extends EventEmitter {
  readonly info: DeviceInfo;
  streams = 0;
  closes = 0;

  constructor(pcm: string) {
    super();
    this.info = { pcm, format: 'S16_LE', rate: 48000, channels: 2, periodFrames: 1024, bufferFrames: 4096, frameBytes: 4, access: 'mmap', card: null };
  }

  stats(): { streams: number } {
    return { streams: this.streams };
  }

  async close(): Promise<void> {
    this.closes += 1;
  }

  /** What the playback thread reports when the card goes away. */
  lose(message = 'PCM "card": mmap_commit failed: No such device'): void {
    this.emit('error', nativeError('E_DEVICE_LOST', 19, message));
  }

  get asDevice(): Device {
    return this as unknown as Device;
  }
}

export function nativeError(code: string, errno: number, message: string): NativeError {
  return Object.assign(new Error(message), { code, errno, alsaMessages: [] as string[] });
}

interface PendingOpen<T> {
  options: T;
  resolve(device: FakeDevice): void;
  reject(error: NativeError): void;
}

/** Opens that stay pending until the test answers them, oldest first. */
export class ControlledOpens<T = DeviceOptions> {
  readonly #pending: PendingOpen<T>[] = [];
  calls = 0;

  readonly open = (options: T): Promise<Device> => {
    this.calls += 1;
    return new Promise<Device>((resolve, reject) => {
      this.#pending.push({ options, resolve: (device) => resolve(device.asDevice), reject });
    });
  };

  get waiting(): number {
    return this.#pending.length;
  }

  /** The oldest open still waiting for its answer. */
  next(): PendingOpen<T> {
    const open = this.#pending.shift();
    if (!open) throw new Error('no open is waiting');
    return open;
  }
}
