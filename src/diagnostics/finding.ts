// What every probe reports: findings with a stable code and a one-line hint,
// and the guard that keeps a failing probe from taking the doctor down with it
// (a diagnostics tool that crashes on an odd /proc is worse than none).

export type Severity = 'ok' | 'warning' | 'error';

export interface Finding {
  code: string;
  severity: Severity;
  message: string;
  hint: string;
  /** Which probe produced it, for E_DIAG_FAILED and per-node findings. */
  probe?: string;
}

/** A probe's raw data (null when the probe failed) and what it found. */
export interface ProbeResult<T> {
  data: T | null;
  findings: Finding[];
}

export function finding(code: string, severity: Severity, message: string, hint: string, probe?: string): Finding {
  return probe === undefined ? { code, severity, message, hint } : { code, severity, message, hint, probe };
}

/** Runs `probe`; anything it throws becomes an E_DIAG_FAILED finding instead. */
export function guardProbe<T>(name: string, probe: () => ProbeResult<T>): ProbeResult<T> {
  try {
    return probe();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      data: null,
      findings: [
        finding(
          'E_DIAG_FAILED',
          'warning',
          `the ${name} probe failed: ${message}`,
          'the rest of the report is still valid; check that the path exists and is readable by this process',
          name,
        ),
      ],
    };
  }
}

/** The errno name of a Node system error, e.g. "EACCES", or the message when it has none. */
export function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
