// The files the probes read, injectable so that tests can point each probe at
// files they wrote. The defaults are where Linux keeps them.

export interface DiagnosticsPaths {
  /** The sound device directory; the doctor passes the configured AUDIO_SND_DIR. */
  sndDir: string;
  procStatus: string;
  procLimits: string;
  procCgroup: string;
  /** Where the cgroup hierarchies are mounted (v2 directly or at unified/, v1 per controller). */
  cgroupRoot: string;
  asoundCards: string;
  etcPasswd: string;
  etcGroup: string;
}

export const DEFAULT_PATHS: DiagnosticsPaths = {
  sndDir: '/dev/snd',
  procStatus: '/proc/self/status',
  procLimits: '/proc/self/limits',
  procCgroup: '/proc/self/cgroup',
  cgroupRoot: '/sys/fs/cgroup',
  asoundCards: '/proc/asound/cards',
  etcPasswd: '/etc/passwd',
  etcGroup: '/etc/group',
};
