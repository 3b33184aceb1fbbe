// The unpaced ALSA PCMs both players write to, defined once so that speakerd
// and aplay resolve exactly the same names to exactly the same plugins.

/** Debian's alsa.conf: it defines `pcm.null`, which the file PCM uses as its slave. */
const SYSTEM_ALSA_CONF = '/usr/share/alsa/alsa.conf';

export const BENCH_PCMS = [
  { label: 'null', name: 'benchnull', definition: 'pcm.benchnull { type null }' },
  { label: 'file', name: 'benchfile', definition: 'pcm.benchfile { type file slave.pcm null file "/dev/null" format raw }' },
];

/**
 * A complete configuration for a system alsa-lib (aplay) run with
 * ALSA_CONFIG_PATH pointing at it. That variable replaces alsa.conf, so the
 * file includes it first; speakerd merges its text over its own alsa.conf.
 */
export function aplayConfigText(pcms = BENCH_PCMS) {
  return [`<${SYSTEM_ALSA_CONF}>`, ...pcms.map((pcm) => pcm.definition), ''].join('\n');
}
