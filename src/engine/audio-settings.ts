// What the engine is configured with: the audio part of the service's
// configuration, which config.ts reads from the environment. Kept apart from
// native.ts so that reading the configuration does not load the addon, and
// so that the engine depends on no part of the service above it.

import { SAMPLE_FORMATS, type SampleFormat } from '../formats/audio-format';

export { SAMPLE_FORMATS, type SampleFormat };
export type UnderrunPolicy = 'silence' | 'wait';
export type AudioMode = 'auto' | 'device' | 'headless';
/** How far off its rate the clock sink may run (native/src/clock_sink.h, kMaxClockPpm). */
export const MAX_CLOCK_PPM = 100_000;

export interface AudioSettings {
  mode: AudioMode;
  device: string;
  /** ALSA configuration text (read from the file when AUDIO_ALSA_CONFIG is a path). */
  alsaConfig: string | undefined;
  rate: number;
  channels: number;
  format: SampleFormat;
  periodFrames: number;
  periods: number;
  sndDir: string;
  underrun: UnderrunPolicy;
  idleMs: number;
  /** How long an open may take before it is given up as stuck (E_ALSA_OPEN_TIMEOUT). */
  openTimeoutMs: number;
  /** Reopen backoff after a device is lost or refuses to open: doubles from min to max, jittered. */
  reopenMinMs: number;
  reopenMaxMs: number;
  /** A device lost this long without a reopen fails /livez, so that a restart brings the node's current device nodes; 0: never. */
  lostRestartS: number;
  /** Playback control (design §2b): the duck, in dB below the stream's level; its ramp and the fades, in ms. */
  duckDb: number;
  duckRampMs: number;
  fadeMs: number;
  /** The card's simple-mixer element for the master volume; undefined: the first of Master, PCM, Speaker. */
  mixerElement: string | undefined;
  /** The master volume at start, in dB; undefined: a card's element keeps its own level (the software mixer: 0 dB). */
  volumeDb: number | undefined;
  /** The clock sink's test hooks (headless): how far its rate is off, and the file of when each period played. */
  clockPpm: number;
  clockTimeline: string | undefined;
}
