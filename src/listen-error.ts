// Why the server could not listen, in the operator's terms: which of HOST and
// PORT to change. A valid-looking HOST can still name no address of this
// machine, and a valid PORT (or PROBE_PORT) can be taken; both are found
// only by listening.

const HINTS: Record<string, (host: string, port: number, portName: string) => string> = {
  EADDRINUSE: (_host, port, portName) => `another process already listens on ${portName}=${port}: stop it, or choose another ${portName}`,
  EADDRNOTAVAIL: (host) => `HOST=${host} is not an address of this machine (or pod): use 0.0.0.0 or :: for every interface, or one of its own addresses`,
  ENOTFOUND: (host) => `HOST=${host} does not resolve to an address: use an IP address, or a name in /etc/hosts or DNS`,
  EAI_AGAIN: (host) => `HOST=${host} could not be resolved now (DNS did not answer): use an IP address`,
  EACCES: (_host, port, portName) => `${portName}=${port} is below 1024, which needs CAP_NET_BIND_SERVICE: choose a ${portName} from 1024 up (the manifests use 8080 and 8081)`,
  EAFNOSUPPORT: (host) => `HOST=${host} is an IPv6 address and IPv6 is off on this machine: use 0.0.0.0`,
};

/** The one-line message for a listen error an operator can fix through HOST or the port variable (PORT or PROBE_PORT); undefined for any other error. */
export function describeListenError(error: unknown, host: string, port: number, portName = 'PORT'): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const hint = code === undefined ? undefined : HINTS[code];
  if (!hint) return undefined;
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return `cannot listen on ${address}: ${(error as Error).message}; ${hint(host, port, portName)}`;
}
