// HTTP spoken by hand over a TCP socket: what fetch() refuses to send
// (encoded paths, absolute-form targets, broken framing, half-closes) is
// exactly what a hostile client sends.
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The parsed body, when it was JSON. */
  json: any;
}

/** Parses the first response in `text`; undefined until it is complete. */
export function parseResponse(text: string, head = false): RawResponse | undefined {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  // A HEAD answer has a Content-Length and no body.
  const length = head ? 0 : Number(headers['content-length'] ?? 0);
  // The readers below decode as latin1: one character per byte.
  const rest = Buffer.from(text.slice(headEnd + 4), 'latin1');
  if (rest.length < length) return undefined;
  const body = rest.subarray(0, length).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body, json };
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the server sends on `socket` until it closes it. */
export function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

/** Resolves with the first complete response on `socket` (or undefined if it closed first). */
export function firstResponse(socket: net.Socket, head = false): Promise<RawResponse | undefined> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const response = parseResponse(text, head);
      if (response) resolve(response);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(parseResponse(text, head)));
  });
}

/** Sends `request` as it is on a new connection and resolves with the answer. */
export async function rawRequest(port: number, text: string | Buffer): Promise<RawResponse | undefined> {
  const request = Buffer.from(text);
  const socket = await connect(port);
  const answer = firstResponse(socket, request.subarray(0, 5).toString() === 'HEAD ');
  socket.write(request);
  const response = await answer;
  socket.destroy();
  return response;
}
