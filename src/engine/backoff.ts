// How long to wait before the next attempt to reopen a device: doubling from
// `minMs` up to `maxMs`, with "equal jitter" (a random half of the step), so
// that many pods on one node whose card went away do not retry in lockstep,
// and a device that comes back is found within one capped step.

export interface BackoffLimits {
  minMs: number;
  maxMs: number;
}

/** The delay before attempt number `attempt` (1 for the first retry). `random` is in [0, 1). */
export function backoffDelay(attempt: number, limits: BackoffLimits, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const step = Math.min(limits.maxMs, limits.minMs * 2 ** exponent);
  return Math.round(step / 2 + random() * (step / 2));
}
