// Loads the native addon, once, and points alsa-lib at the configuration
// shipped with the build before anything can read it. Each typed wrapper
// (native.ts, converter.ts) describes the part of the addon it uses.
import path from 'node:path';
import { projectRoot } from '../project-root';

const shippedAlsaConfigDir = path.join(projectRoot, 'deps', 'alsa-lib', 'share', 'alsa');

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const addon: unknown = require(path.join(projectRoot, 'build', 'Release', 'speakerd.node'));

const core = addon as { useAlsaConfigDir(dir: string): string; alsaLibVersion: string; realtimePriority: number; minBufferMsWithoutRealtime: number };

/** The ALSA configuration directory alsa-lib reads: ALSA_CONFIG_DIR if the user set it, else the shipped one. */
export const alsaConfigDir = core.useAlsaConfigDir(shippedAlsaConfigDir);
export const alsaLibVersion = core.alsaLibVersion;
/** The SCHED_FIFO priority the playback thread asks for (native/src/realtime.h). */
export const realtimePriority = core.realtimePriority;
/** The device buffer's floor when the playback thread runs without SCHED_FIFO, in ms (native/src/realtime.h). */
export const minBufferMsWithoutRealtime = core.minBufferMsWithoutRealtime;
