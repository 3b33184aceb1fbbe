// The compressed bodies of the compressed bench, made when it starts: a
// music-like signal (a tone per channel, a few hundred Hz apart, with a
// little noise, as test/compressed-fixtures.ts makes it: pure sines would
// flatter the lossy codecs) written as a 48 kHz stereo S16 WAV, then encoded
// by Debian's reference encoders with their default settings. The same
// tools' decoders, decoding to nothing, are the peers speakerd is timed
// against.
import fs from 'node:fs';
import path from 'node:path';

import { spawnTracked } from './children.mjs';
import { commandLine } from './pipeline.mjs';
import { setupError } from './settings.mjs';
import { wavHeader } from './wav.mjs';

export const FIXTURE_FORMAT = { rate: 48000, channels: 2 };

/**
 * Each codec: the content type speakerd is sent, how its file is encoded,
 * and its reference decoder's fastest mode that still decodes every sample
 * (timed alike: spawn to exit, as a shell runs it). Output goes to stdout
 * and the shell sends it to /dev/null, never `-o /dev/null`: flac gives its
 * output file the input's mode and times, and did so to /dev/null.
 *   flac -d -c: a WAV on stdout (flac -t, the same decoding with nothing
 *     written, timed the same).
 *   opusdec --float: opusfile's float samples, as speakerd's decoder takes
 *     them; --no-dither (S16, what speakerd's output is compared with in the
 *     tests) took about 25 % longer.
 *   oggdec -o -: S16 WAV on stdout (-R, raw, timed the same).
 *   mpg123 -t: mpg123's own benchmark mode, full decoding and synthesis
 *     into S16, no output (-s, raw on stdout, timed the same).
 */
export const CODECS = [
  {
    codec: 'flac',
    contentType: 'audio/flac',
    extension: 'flac',
    encode: (wav, out) => ['flac', '--silent', '--force', '-o', out, wav],
    decodeToNothing: (file) => `${commandLine(['flac', '-d', '-c', '-s', file])} > /dev/null`,
  },
  {
    codec: 'opus',
    contentType: 'audio/ogg',
    extension: 'opus',
    encode: (wav, out) => ['opusenc', '--quiet', wav, out],
    decodeToNothing: (file) => `${commandLine(['opusdec', '--quiet', '--float', file, '-'])} > /dev/null`,
  },
  {
    codec: 'vorbis',
    contentType: 'audio/ogg',
    extension: 'ogg',
    encode: (wav, out) => ['oggenc', '--quiet', '-o', out, wav],
    decodeToNothing: (file) => `${commandLine(['oggdec', '--quiet', '-o', '-', file])} > /dev/null`,
  },
  {
    codec: 'mp3',
    contentType: 'audio/mpeg',
    extension: 'mp3',
    encode: (wav, out) => ['lame', '--quiet', wav, out],
    decodeToNothing: (file) => commandLine(['mpg123', '--quiet', '-t', file]),
  },
];

/** The Debian package of each tool the bench runs. */
const TOOLS = { flac: 'flac', opusenc: 'opus-tools', opusdec: 'opus-tools', oggenc: 'vorbis-tools', oggdec: 'vorbis-tools', lame: 'lame', mpg123: 'mpg123' };

const onPath = (tool) =>
  (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', tool), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/** A setup error naming the packages to install when a reference tool is missing. */
export function checkReferenceTools() {
  const missing = Object.keys(TOOLS).filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    throw setupError(`the compressed bench needs Debian's reference encoders and decoders; missing: ${missing.join(', ')}: apt-get install ${[...new Set(missing.map((tool) => TOOLS[tool]))].join(' ')}`);
  }
}

async function runTool(command, args) {
  const child = spawnTracked(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
  const [code, signal] = await child.exited;
  if (code !== 0) throw new Error(`${commandLine([command, ...args])}: ${signal ?? `exit code ${code}`}: ${stderr.trim()}`);
}

/** S16_LE interleaved samples of `seconds` of the signal. */
export function musicLikeS16({ rate, channels }, seconds, seed = 7) {
  const frames = Math.round(seconds * rate);
  const samples = new Int16Array(frames * channels);
  let state = seed;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const value = 0.45 * Math.sin((2 * Math.PI * (330 + 110 * c) * i) / rate) + 0.05 * (state / 2 ** 32 - 0.5);
      samples[i * channels + c] = Math.round(value * 32767);
    }
  }
  return Buffer.from(samples.buffer);
}

/**
 * Writes `name`.wav of `seconds` into `dir` and encodes it with every codec
 * of `codecs`, two encoders at a time (one per core here). Resolves with
 * { seconds, frames, wav: { path, bytes }, files: { codec: { path, bytes } } }.
 */
export async function makeFixtures(dir, name, seconds, codecs = CODECS) {
  const data = musicLikeS16(FIXTURE_FORMAT, seconds);
  const wavPath = path.join(dir, `${name}.wav`);
  fs.writeFileSync(wavPath, Buffer.concat([wavHeader({ ...FIXTURE_FORMAT, dataBytes: data.length }), data]));
  const files = {};
  const queue = [...codecs];
  const encodeNext = async () => {
    for (let codec = queue.shift(); codec; codec = queue.shift()) {
      const out = path.join(dir, `${name}.${codec.extension}`);
      const [command, ...args] = codec.encode(wavPath, out);
      await runTool(command, args);
      files[codec.codec] = { path: out, bytes: fs.statSync(out).size };
    }
  };
  await Promise.all([encodeNext(), encodeNext()]);
  return { seconds, frames: data.length / 2 / FIXTURE_FORMAT.channels, wav: { path: wavPath, bytes: fs.statSync(wavPath).size }, files };
}
