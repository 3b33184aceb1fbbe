// Several clients streaming WAV bodies at once into a paced sink: each body
// is generated as it is sent, and the service reads it only as fast as it
// plays, so the clients are held back just as real uploaders would be.
import { postAudio } from './http-post.mjs';
import { wavReadable } from './wav.mjs';

export const STREAM_FORMAT = { rate: 48000, channels: 2 };

/**
 * POSTs `count` bodies of `seconds` each, concurrently (`query(i)`: the i-th
 * POST's query string); resolves with their
 * answers once all have played, or rejects on the first that did not play
 * whole.
 */
export async function playConcurrently(url, { count, seconds, query = (i) => `?name=bench-${i + 1}` }) {
  const frames = Math.round(seconds * STREAM_FORMAT.rate);
  const answers = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      postAudio(url, { contentType: 'audio/wav', body: wavReadable({ ...STREAM_FORMAT, seconds }), query: query(i) }),
    ),
  );
  for (const answer of answers) {
    if (answer.status !== 200 || answer.json.frames !== frames || answer.json.truncated) {
      throw new Error(`a stream answered ${answer.status} ${JSON.stringify(answer.json)}; expected ${frames} frames played`);
    }
  }
  return answers;
}
