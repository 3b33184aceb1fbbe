// Compressed bodies through the real service into a file PCM (48 kHz stereo
// S16_LE), against Debian's reference decoders: FLAC bit-exact, Opus, Vorbis
// and MP3 sample-aligned, the same length, and SNR >= 60 dB.
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { encode, referenceDecode, snrDb, toneS16, writeWav, type CompressedKind } from '../compressed-fixtures';
import { scratchDir } from '../pcm-fixtures';
import { startInProcessApp } from './in-process-app';
import { fileDeviceEnv } from './server-process';

const CONTENT_TYPES: Record<CompressedKind, string> = { flac: 'audio/flac', opus: 'audio/ogg', vorbis: 'audio/ogg', mp3: 'audio/mpeg' };

t.test('each codec plays what its reference decoder makes of it', async (t) => {
  const dir = scratchDir(t);
  const out = path.join(dir, 'out.raw');
  const server = await startInProcessApp(t, fileDeviceEnv(out));
  const source = writeWav(dir, 'tone', toneS16(48000 * 2 + 123, 2, 48000), 48000, 2);
  let played = 0;
  for (const kind of ['flac', 'opus', 'vorbis', 'mp3'] as const) {
    const file = encode(kind, source);
    const reference = referenceDecode(kind, file);
    const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers: { 'content-type': CONTENT_TYPES[kind] }, body: readFileSync(file) });
    const result = (await response.json()) as Record<string, unknown>;
    t.equal(response.status, 200, `${kind}: 200 ${JSON.stringify(result)}`);
    const size = statSync(out).size;
    const output = readFileSync(out).subarray(played, size);
    played = size;
    t.equal(output.length, reference.data.length, `${kind}: the same length as the reference (${reference.data.length / 4} frames)`);
    t.match(result, { frames: reference.data.length / 4, truncated: false, codec: kind, decodeErrors: 0 }, `${kind}: the result`);
    const snr = snrDb(reference.data, output);
    if (kind === 'flac') t.ok(output.equals(reference.data), 'flac: bit-exact');
    t.ok(snr >= 60, `${kind}: SNR ${snr.toFixed(1)} dB against the reference`);
  }
});
