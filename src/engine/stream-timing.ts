// ?at= and ?late= (design §2c): when a stream's first frame must reach the
// DAC, on the wall clock, and what to do when that moment has passed. The
// playback thread places the stream on the device clock (device_clock.h);
// this decides, on arrival, whether it may be placed at all.
import { failure } from '../error-table';
import type { UnderrunPolicy } from './audio-settings';

export const LATE_POLICIES = ['skip', 'play', 'reject'] as const;
export type LatePolicy = (typeof LATE_POLICIES)[number];

export interface StreamTiming {
  /** Unix ms, with a fraction: the first frame reaches the DAC then. */
  at: number;
  /** What the playback thread does if it places the stream after `at`: reject was decided on arrival. */
  late: 'skip' | 'play';
}

export interface TimingLimits {
  /** MAX_AT_AHEAD_S: how far ahead `at` may be. */
  maxAheadS: number;
  /** The device's gap policy: the wait policy never plays the silence before a timed start. */
  underrun: UnderrunPolicy;
}

// RFC 3339 date-time with a numeric offset or Z (T and Z in either case),
// any number of fraction digits; or Unix milliseconds, with a fraction.
const RFC3339 = /^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const UNIX_MS = /^\d{1,15}(\.\d+)?$/;

/** `at` as Unix ms, or undefined for text that is neither form (or no such date). */
export function parseAt(value: string): number | undefined {
  if (UNIX_MS.test(value)) return Number(value);
  const match = RFC3339.exec(value);
  if (!match) return undefined;
  const [, seconds, fraction, offset] = match;
  // Date.parse keeps milliseconds only: the fraction is added apart, to the ns.
  const whole = Date.parse(`${seconds!.toUpperCase()}${offset!.toUpperCase()}`);
  // Date.parse rolls 2026-02-30 over to March; a date that does not exist is refused.
  if (!Number.isFinite(whole) || new Date(whole + offsetMs(offset!)).toISOString().slice(0, 19) !== seconds!.toUpperCase()) return undefined;
  return whole + (fraction ? Number(`0${fraction.slice(0, 10)}`) * 1000 : 0);
}

function offsetMs(offset: string): number {
  if (offset.toUpperCase() === 'Z') return 0;
  const sign = offset.startsWith('-') ? -1 : 1;
  return sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000;
}

/**
 * The stream's timing from ?at= and ?late=, or undefined for an untimed
 * stream. 400 for text that is no time, a time too far ahead, a late
 * policy not known, or a timed stream in a queue; 409 for a stream late on
 * arrival with late=reject, or a device under the wait policy.
 */
export function streamTiming(at: string | undefined, late: string | undefined, queue: string | undefined, limits: TimingLimits, now = Date.now()): StreamTiming | undefined {
  if (late !== undefined && !(LATE_POLICIES as readonly string[]).includes(late)) throw failure('INVALID_LATE', { value: late, allowed: LATE_POLICIES });
  if (at === undefined) {
    if (late !== undefined) throw failure('LATE_WITHOUT_AT', {});
    return undefined;
  }
  const when = parseAt(at);
  if (when === undefined || when <= 0) throw failure('INVALID_AT', { value: at });
  if (queue !== undefined) throw failure('TIMED_QUEUE', { queue });
  const aheadS = (when - now) / 1000;
  if (aheadS > limits.maxAheadS) throw failure('AT_TOO_FAR', { value: at, aheadS, maxAheadS: limits.maxAheadS });
  if (limits.underrun === 'wait') throw failure('TIMING_NEEDS_SILENCE', {});
  const policy = (late ?? 'skip') as LatePolicy;
  if (when < now && policy === 'reject') throw failure('TOO_LATE', { value: at, lateMs: now - when });
  return { at: when, late: policy === 'play' ? 'play' : 'skip' };
}
