// The errors speakerd reports. Programming errors in calls to the engine are
// TypeErrors with a code (argumentError); everything a client or operator
// sees is a SpeakerdError, which carries its HTTP status, a stable code, a
// specific message and a hint that says what to do. Over HTTP it is always
// { "error": { "code", "message", "hint" } }.

export interface ErrorBody {
  error: { code: string; message: string; hint: string };
}

export class SpeakerdError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly hint: string;
  /** Sent as Retry-After: when trying again makes sense (429, and 503 while the device comes back). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: string, statusCode: number, message: string, hint: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'SpeakerdError';
    this.code = code;
    this.statusCode = statusCode;
    this.hint = hint;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, hint: this.hint } };
  }
}

/** A TypeError with a code, for arguments that break an API's contract. */
export function argumentError(message: string, code = 'E_INVALID_ARG'): TypeError & { code: string } {
  return Object.assign(new TypeError(message), { code });
}

/** An integer in [min, max], or an argumentError naming the argument. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw argumentError(`${name} must be an integer from ${min} to ${max}; got ${String(value)}`);
  }
  return value;
}
