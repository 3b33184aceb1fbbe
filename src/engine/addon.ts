// Loads the native addon, once, and points alsa-lib at the configuration
// shipped with the build before anything can read it. Each typed wrapper
// (native.ts, converter.ts) describes the part of the addon it uses.
import path from 'node:path';
import { INPUT_SAMPLE_FORMATS, MAX_CHANNELS, MAX_DEVICE_CHANNELS, MAX_RATE, MIN_DEVICE_RATE, MIN_RATE, SAMPLE_FORMATS } from '../formats/audio-format';
import { projectRoot } from '../project-root';

const shippedAlsaConfigDir = path.join(projectRoot, 'deps', 'alsa-lib', 'share', 'alsa');

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const addon: unknown = require(path.join(projectRoot, 'build', 'Release', 'speakerd.node'));

/** native/src/audio_limits.h, as the addon exports it. */
interface AudioLimits {
  inputFormats: string[];
  minInputRate: number;
  maxInputChannels: number;
  deviceFormats: string[];
  minDeviceRate: number;
  maxDeviceChannels: number;
  maxRate: number;
}

const core = addon as {
  useAlsaConfigDir(dir: string): string;
  alsaLibVersion: string;
  realtimePriority: number;
  minBufferMsWithoutRealtime: number;
  audioLimits: AudioLimits;
  mallocBytesInUse(): number;
  returnFreeHeap(): Promise<HeapReturn>;
};

/** What one returnFreeHeap() did: the process's RSS before and after, in bytes, and its time. */
export interface HeapReturn {
  rssBefore: number;
  rssAfter: number;
  ms: number;
}

/** What formats/audio-format.ts says, in the addon's terms. */
export const TYPESCRIPT_AUDIO_LIMITS: AudioLimits = {
  inputFormats: [...INPUT_SAMPLE_FORMATS],
  minInputRate: MIN_RATE,
  maxInputChannels: MAX_CHANNELS,
  deviceFormats: [...SAMPLE_FORMATS],
  minDeviceRate: MIN_DEVICE_RATE,
  maxDeviceChannels: MAX_DEVICE_CHANNELS,
  maxRate: MAX_RATE,
};

// The configuration and the request checks use the TypeScript tables; the
// converter and the mixer use the addon's. An addon built from other
// sources than this TypeScript would accept what it cannot play, or refuse
// what it can: say so at once instead.
if (JSON.stringify(core.audioLimits) !== JSON.stringify(TYPESCRIPT_AUDIO_LIMITS)) {
  throw new Error(
    `the native addon's audio limits ${JSON.stringify(core.audioLimits)} differ from src/formats/audio-format.ts ${JSON.stringify(TYPESCRIPT_AUDIO_LIMITS)}: rebuild the addon from this checkout (npm install)`,
  );
}

/** The ALSA configuration directory alsa-lib reads: ALSA_CONFIG_DIR if the user set it, else the shipped one. */
export const alsaConfigDir = core.useAlsaConfigDir(shippedAlsaConfigDir);
export const alsaLibVersion = core.alsaLibVersion;
/** The SCHED_FIFO priority the playback thread asks for (native/src/realtime.h). */
export const realtimePriority = core.realtimePriority;
/** The device buffer's floor when the playback thread runs without SCHED_FIFO, in ms (native/src/realtime.h). */
export const minBufferMsWithoutRealtime = core.minBufferMsWithoutRealtime;
/** Bytes malloc has handed out and not had back (glibc's mallinfo2), for leak checks finer than RSS. */
export const mallocBytesInUse = (): number => core.mallocBytesInUse();
/**
 * Gives the C heap's free pages back to the kernel, off the JS thread
 * (native/src/c_heap.h says why). It holds malloc's locks while it runs:
 * for when nothing plays.
 */
export const returnFreeHeap = (): Promise<HeapReturn> => core.returnFreeHeap();
