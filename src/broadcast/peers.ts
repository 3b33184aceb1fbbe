// Who a broadcast goes to (design §2c): every ready speakerd of the
// DaemonSet, as the headless Service PEERS_DNS names them (its A records are
// the ready pods, this one included), or the PEERS list when it is set.
import { lookup } from 'node:dns/promises';

export interface Peer {
  host: string;
  port: number;
}

export interface PeerSettings {
  /** PEERS: host:port entries; when set, no DNS is asked. */
  list: Peer[] | undefined;
  /** PEERS_DNS: the headless Service's name. */
  dnsName: string;
  /** The port every peer found by DNS listens on: this instance's PORT. */
  port: number;
}

export function peerName(peer: Peer): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
}

/** The peers now: the list, or every address the name has (in a stable order). Rejects when the name does not resolve. */
export async function findPeers(settings: PeerSettings): Promise<Peer[]> {
  if (settings.list) return settings.list;
  const addresses = await lookup(settings.dnsName, { all: true });
  return [...new Set(addresses.map((entry) => entry.address))].sort().map((host) => ({ host, port: settings.port }));
}
