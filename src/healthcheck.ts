// `speakerd healthcheck`: the container image's HEALTHCHECK. It asks the
// running service's /healthz on the configured HOST and PROBE_PORT (PORT
// when no probe port is set, or when it is 0 and so unknown) with Node's own
// fetch, because the image carries no curl or wget. Kubernetes does not use
// it; the manifest's probes call the same route over HTTP.
import { loadConfig, type Env } from './config';

export interface HealthcheckResult {
  healthy: boolean;
  /** One line for `docker inspect`'s health log. */
  message: string;
}

// A wildcard listen address is not an address to connect to.
function probeHost(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function healthcheck(env: Env = process.env, timeoutMs = 2500): Promise<HealthcheckResult> {
  const config = loadConfig(env);
  const port = config.probePort || config.port;
  const url = `http://${probeHost(config.host)}:${port}/healthz`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await response.text();
    return { healthy: response.status === 200, message: `${url}: ${response.status} ${body}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
    return { healthy: false, message: `${url}: ${reason}` };
  }
}
