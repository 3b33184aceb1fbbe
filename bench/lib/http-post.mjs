// POSTs an audio body to speakerd the way a plain HTTP client does, with
// node:http on a fresh connection per request (no pooling), so that
// concurrent requests really are concurrent connections.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * Sends `body` (a Buffer, or a Readable streamed with backpressure) and
 * resolves with { status, json, headersMs, ms }: the answer, when its
 * headers arrived and when it was complete, in ms from the start of the
 * request. The server may answer before it has read the body (429): the
 * answer counts, and the rest of the body is dropped.
 */
export function postAudio(url, { contentType, body, query = '' }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let answered = false;
    const request = http.request(`${url}/v1/streams${query}`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': contentType, ...(Buffer.isBuffer(body) ? { 'content-length': body.length } : {}) },
    });
    request.on('response', (response) => {
      answered = true;
      const headersMs = performance.now() - started;
      if (!Buffer.isBuffer(body)) body.unpipe(request);
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = { unparsed: text };
        }
        resolve({ status: response.statusCode, headers: response.headers, json, headersMs, ms: performance.now() - started });
      });
    });
    request.on('error', (error) => {
      // A write that fails after an early answer (EPIPE, ECONNRESET) is expected.
      if (!answered) reject(error);
    });
    if (Buffer.isBuffer(body)) {
      request.end(body);
    } else {
      body.on('error', (error) => request.destroy(error));
      body.pipe(request);
    }
  });
}
