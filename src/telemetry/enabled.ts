// Whether to start OpenTelemetry at all: the standard OTEL_SDK_DISABLED, read
// before the SDK is loaded, so that a disabled SDK costs nothing (start-up
// time and RSS: bench/ measures both ways).
import type { Env } from '../config';

export function telemetryDisabled(env: Env = process.env): boolean {
  return (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true';
}
