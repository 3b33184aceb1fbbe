// Streams one request body to several peers at once, each through its own
// POST /v1/streams, at the pace of the slowest: the body is paused while any
// peer's connection is full. A peer that stays full for stallMs while the
// others take more has fallen behind: it is cut, and the rest go on. Each
// peer's answer is collected as it comes.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { errorBody } from '../error-table';
import { peerName, type Peer } from './peers';

export interface PeerError {
  code: string;
  message: string;
  hint?: string;
}

export interface PeerResult {
  peer: string;
  /** The peer's HTTP status; null when it never answered. */
  status: number | null;
  /** Its answer when it played the stream (POST /v1/streams' 200 body). */
  result?: unknown;
  error?: PeerError;
}

export interface FanOutOptions {
  path: string;
  headers: Record<string, string>;
  /** How long one peer may take nothing while the body waits for it. */
  stallMs: number;
}

interface Target {
  peer: Peer;
  request: ClientRequest;
  /** Set once the peer has answered, failed or been cut: nothing more is written to it. */
  outcome: Promise<PeerResult>;
  finished: boolean;
}

const MAX_ANSWER_BYTES = 64 * 1024;

function readAnswer(response: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
    });
    response.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(undefined);
      }
    });
    response.on('error', () => resolve(undefined));
  });
}

function open(peer: Peer, options: FanOutOptions): Target {
  const request = httpRequest({ host: peer.host, port: peer.port, method: 'POST', path: options.path, headers: options.headers });
  const target: Target = { peer, request, outcome: undefined as unknown as Promise<PeerResult>, finished: false };
  target.outcome = new Promise<PeerResult>((resolve) => {
    const settle = (result: Omit<PeerResult, 'peer'>) => {
      if (target.finished) return;
      target.finished = true;
      resolve({ peer: peerName(peer), ...result });
    };
    request.on('response', (response) => {
      void readAnswer(response).then((answer) => {
        const body = answer as { error?: PeerError } | undefined;
        if (response.statusCode === 200) settle({ status: 200, result: answer });
        else settle({ status: response.statusCode ?? null, error: body?.error ?? errorBody('PEER_ANSWER', { status: response.statusCode ?? 0 }) });
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      settle({ status: null, error: (request as ClientRequest & { cutWith?: PeerError }).cutWith ?? errorBody('PEER_UNREACHABLE', { reason: error.message }) });
    });
  });
  return target;
}

function cut(target: Target, reason: PeerError): void {
  (target.request as ClientRequest & { cutWith?: PeerError }).cutWith = reason;
  target.request.destroy(new Error(reason.message));
}

/** Streams `body` to every peer; resolves with each peer's result, in the order of `peers`. */
export async function fanOut(body: Readable, peers: Peer[], options: FanOutOptions): Promise<PeerResult[]> {
  const targets = peers.map((peer) => open(peer, options));
  const live = () => targets.filter((target) => !target.finished);
  // Peers whose connection is full, and since when: the body waits for them.
  const full = new Map<Target, number>();
  let watch: NodeJS.Timeout | undefined;
  const resumeIfClear = () => {
    for (const target of full.keys()) if (target.finished) full.delete(target);
    if (full.size > 0) return;
    clearInterval(watch);
    watch = undefined;
    body.resume();
  };
  // While the body waits: a peer full for stallMs while another takes more has fallen behind.
  const checkStalls = () => {
    const now = Date.now();
    if (full.size >= live().length) return;  // all full: that is the stream's own pace
    for (const [target, since] of full) {
      if (now - since >= options.stallMs) {
        cut(target, errorBody('PEER_BEHIND', { stallMs: options.stallMs }));
      }
    }
  };
  for (const target of targets) {
    target.request.on('drain', () => {
      full.delete(target);
      resumeIfClear();
    });
    void target.outcome.then(() => resumeIfClear());
  }
  body.on('data', (chunk: Buffer) => {
    const now = Date.now();
    for (const target of live()) {
      if (!target.request.write(chunk)) full.set(target, now);
    }
    if (full.size === 0) return;
    body.pause();
    watch ??= setInterval(checkStalls, Math.max(10, options.stallMs / 4));
  });
  await new Promise<void>((resolve) => {
    body.once('end', resolve);
    body.once('error', () => resolve());
    body.once('close', resolve);
  });
  clearInterval(watch);
  const complete = body.readableEnded;
  for (const target of live()) {
    if (complete) target.request.end();
    else cut(target, errorBody('CLIENT_GONE', { played: 'the broadcast was cut' }));
  }
  return Promise.all(targets.map((target) => target.outcome));
}
