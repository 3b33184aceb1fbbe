// Compressed bodies through the real service into a file PCM (48 kHz stereo
// S16_LE), against Debian's reference decoders: FLAC bit-exact, Opus, Vorbis
// and MP3 sample-aligned, the same length, and SNR >= 60 dB.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { dominantTone, encode, EXTENSIONS, flacHeadAndFrames, referenceDecode, snrDb, toneS16, webmFromOggOpus, writeWav, type CompressedKind } from '../compressed-fixtures';
import { scratchDir, threadCount } from '../pcm-fixtures';
import { openFds, postStreaming, waitForStreams } from './http-client';
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
    // The same library as the reference decoder: the same samples, bit for bit.
    if (kind === 'flac' || kind === 'mp3') t.ok(output.equals(reference.data), `${kind}: bit-exact`);
    t.ok(snr >= 60, `${kind}: SNR ${snr.toFixed(1)} dB against the reference`);
  }
});

interface Played {
  status: number;
  json: Record<string, unknown> & { error?: { code: string; message: string; hint: string } };
  output: Buffer;
}

/** An in-process server on a file PCM, and a way to POST a body and see what it added to the file. */
async function recorder(t: Parameters<Parameters<typeof t.test>[1]>[0], env: Record<string, string> = {}) {
  const dir = scratchDir(t);
  const out = path.join(dir, 'out.raw');
  const server = await startInProcessApp(t, fileDeviceEnv(out, env));
  let played = 0;
  const post = async (contentType: string | undefined, body: Buffer): Promise<Played> => {
    const headers: Record<string, string> = contentType === undefined ? {} : { 'content-type': contentType };
    const response = await fetch(`${server.url}/v1/streams`, { method: 'POST', headers, body });
    const json = (await response.json()) as Played['json'];
    const size = statSync(out).size;
    const output = readFileSync(out).subarray(played, size);
    played = size;
    return { status: response.status, json, output };
  };
  return { dir, server, post };
}

t.test('on a float device the lossy codecs keep their float samples, and still match the references', async (t) => {
  const { dir, post } = await recorder(t, { AUDIO_FORMAT: 'FLOAT_LE' });
  const source = writeWav(dir, 'tone', toneS16(48000, 2, 48000), 48000, 2);
  for (const kind of ['opus', 'vorbis', 'mp3', 'flac'] as const) {
    const file = encode(kind, source);
    const reference = referenceDecode(kind, file);
    const played = await post(CONTENT_TYPES[kind], readFileSync(file));
    t.equal(played.status, 200, kind);
    t.equal(played.output.length, reference.data.length * 2, `${kind}: the same length as the reference`);
    const asS16 = Buffer.alloc(played.output.length / 2);
    let fractional = 0;
    for (let i = 0; i < asS16.length / 2; i++) {
      const scaled = played.output.readFloatLE(i * 4) * 32768;
      if (scaled !== Math.round(scaled)) fractional++;
      asS16.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(scaled))), i * 2);
    }
    const snr = snrDb(reference.data, asS16);
    t.ok(snr >= 60, `${kind}: SNR ${snr.toFixed(1)} dB against the reference, rounded to 16 bits`);
    if (kind === 'flac') t.equal(fractional, 0, 'flac: every sample an exact 16-bit value');
    else t.ok(fractional > asS16.length / 4, `${kind}: samples between 16-bit steps (${fractional}): decoded in float, not via 16 bits`);
  }
});

t.test('24-bit FLAC plays bit-exact on a 24-bit device, and mono and 6-channel FLAC too', async (t) => {
  const { dir, post } = await recorder(t, { AUDIO_FORMAT: 'S24_3LE', AUDIO_CHANNELS: '6' });
  const frames = 30000;
  // 24-bit samples: a 16-bit tone shifted up, with its low byte filled in.
  const tone16 = toneS16(frames, 6, 48000);
  const tone24 = Buffer.alloc(frames * 6 * 3);
  for (let i = 0; i < frames * 6; i++) tone24.writeIntLE(tone16.readInt16LE(i * 2) * 256 + (i % 251), i * 3, 3);
  const reference24 = referenceDecode('flac', encode('flac', writeWav(dir, 'six24', tone24, 48000, 6, 24)));
  const six = await post('audio/flac', readFileSync(path.join(dir, 'six24.flac')));
  t.equal(six.status, 200);
  t.match(six.json, { frames, codec: 'flac', truncated: false, decodeErrors: 0 });
  t.ok(six.output.equals(reference24.data), '6 channels, 24 bits: every byte as flac -d writes it');

  const mono = toneS16(frames, 1, 48000);
  const monoFile = encode('flac', writeWav(dir, 'mono16', mono, 48000, 1));
  const played = await post('audio/flac', readFileSync(monoFile));
  t.equal(played.status, 200);
  let exact = played.output.length === frames * 6 * 3;
  for (let i = 0; exact && i < frames; i++) {
    for (let c = 0; c < 6; c++) exact &&= played.output.readIntLE((i * 6 + c) * 3, 3) === mono.readInt16LE(i * 2) * 256;
  }
  t.ok(exact, 'mono 16-bit: each sample, widened exactly, in every channel');
});

t.test('5.1 FLAC, Opus and Vorbis come out in WAV channel order', async (t) => {
  const { dir, post } = await recorder(t, { AUDIO_CHANNELS: '6' });
  const source = writeWav(dir, 'surround', toneS16(48000, 6, 48000), 48000, 6);
  for (const kind of ['flac', 'opus', 'vorbis'] as const) {
    const file = encode(kind, source);
    const reference = referenceDecode(kind, file);
    t.equal(reference.channels, 6);
    const played = await post(CONTENT_TYPES[kind], readFileSync(file));
    t.equal(played.status, 200, kind);
    t.equal(played.output.length, reference.data.length, `${kind}: the same length as the reference decoder's`);
    // Each channel carries its own tone: the source's channel c must come out as channel c.
    const order = [0, 1, 2, 3, 4, 5].map((c) => dominantTone(played.output, 6, c, 48000));
    t.same(order, [0, 1, 2, 3, 4, 5], `${kind}: FL FR FC LFE BL BR in their places`);
    if (kind === 'vorbis') {
      // oggdec 1.4.2 (Debian's) writes channels 3-5 of 5.1 as BR, LFE, BL:
      // the source's order does not survive oggenc → oggdec, while it does
      // survive oggenc → speakerd (above) and opusenc → opusdec.
      t.same([3, 4, 5].map((c) => dominantTone(reference.data, 6, c, 48000)), [5, 3, 4], 'oggdec itself misplaces LFE, BL and BR');
      continue;
    }
    for (let c = 0; c < 6; c++) {
      const snr = snrDb(channelOf(reference.data, 6, c), channelOf(played.output, 6, c));
      t.ok(snr >= 60, `${kind}: channel ${c} matches the reference decoder's (SNR ${snr.toFixed(1)} dB)`);
    }
  }
});

function channelOf(pcm: Buffer, channels: number, channel: number): Buffer {
  const out = Buffer.alloc(pcm.length / channels);
  for (let i = 0; i < out.length / 2; i++) out.writeInt16LE(pcm.readInt16LE((i * channels + channel) * 2), i * 2);
  return out;
}

t.test('a body cut short plays what decoded and says truncated', async (t) => {
  const { dir, post } = await recorder(t);
  const source = writeWav(dir, 'tone', toneS16(48000 * 2, 2, 48000), 48000, 2);
  for (const kind of ['flac', 'opus', 'vorbis', 'mp3'] as const) {
    const file = readFileSync(encode(kind, source));
    const full = referenceDecode(kind, path.join(dir, `tone.${EXTENSIONS[kind]}`));
    const cut = await post(CONTENT_TYPES[kind], file.subarray(0, Math.floor(file.length * 0.6) + 1));
    t.equal(cut.status, 200, `${kind}: 200`);
    t.match(cut.json, { truncated: true, codec: kind }, `${kind}: truncated`);
    const frames = cut.json.frames as number;
    t.ok(frames > 0.4 * 96000 && frames < 0.8 * 96000, `${kind}: about 60% played (${frames} frames)`);
    if (kind === 'flac') t.ok(cut.output.equals(full.data.subarray(0, cut.output.length)), 'flac: what played is the start of the whole, exactly');
  }
  // A FLAC whose STREAMINFO states its length, cut on a frame boundary.
  const flac = readFileSync(path.join(dir, 'tone.flac'));
  const boundary = lastFrameStart(flac);
  const onBoundary = await post('audio/flac', flac.subarray(0, boundary));
  t.equal(onBoundary.status, 200);
  t.match(onBoundary.json, { truncated: true }, 'flac cut between frames: truncated, from STREAMINFO');
  t.ok((onBoundary.json.frames as number) < 96000);
});

// Where the last FLAC frame starts: the last frame sync (0xFFF8, fixed blocksize) in the file.
function lastFrameStart(flac: Buffer): number {
  for (let i = flac.length - 2; i > 42; i--) if (flac[i] === 0xff && flac[i + 1] === 0xf8) return i;
  throw new Error('no frame sync');
}

t.test('corrupt frames inside a stream are skipped and counted, and the rest plays', async (t) => {
  const { dir, post } = await recorder(t);
  const source = writeWav(dir, 'tone', toneS16(48000 * 2, 2, 48000), 48000, 2);
  for (const kind of ['flac', 'opus', 'vorbis', 'mp3'] as const) {
    // Opus in 20 ms pages, as streaming encoders write it (opusenc's default
    // pages, of up to 1 s, below).
    const file = Buffer.from(readFileSync(encode(kind, source, kind === 'opus' ? ['--max-delay', '20'] : [])));
    // Garbage over a stretch in the middle: frames (or pages) there are lost.
    for (let i = 0; i < 400; i++) file[Math.floor(file.length / 2) + i] = (i * 37) & 0xff;
    const played = await post(CONTENT_TYPES[kind], file);
    t.equal(played.status, 200, `${kind}: 200`);
    t.ok((played.json.decodeErrors as number) >= 1, `${kind}: ${String(played.json.decodeErrors)} decode errors counted`);
    t.ok((played.json.frames as number) > 0.8 * 96000, `${kind}: the rest played (${String(played.json.frames)} frames)`);
  }
  // A lost page of opusenc's default size is a second of audio: a hole,
  // counted, and the pages after it play (opusfile, streaming, stopped there).
  // 6 s of audio: the garbage spans the end of one page and the start of
  // the next, so 2 of the 6 pages are lost.
  const bigPages = Buffer.from(readFileSync(encode('opus', writeWav(dir, 'six', toneS16(48000 * 6, 2, 48000), 48000, 2))));
  for (let i = 0; i < 400; i++) bigPages[Math.floor(bigPages.length / 2) + i] = (i * 37) & 0xff;
  const holed = await post('audio/ogg', bigPages);
  t.equal(holed.status, 200);
  t.ok((holed.json.decodeErrors as number) >= 1, `opus, 1 s pages: ${String(holed.json.decodeErrors)} decode errors counted`);
  t.ok((holed.json.frames as number) > 3.5 * 48000, `and the pages before and after the hole played (${String(holed.json.frames)} frames of 288000)`);
});

t.test('a body that is not its codec past the magic is 400 E_DECODE_FAILED, and nothing plays', async (t) => {
  const { post } = await recorder(t);
  const garbage = Buffer.alloc(4096, 0x5a);
  const cases: [string, Buffer, RegExp][] = [
    ['audio/flac', Buffer.concat([Buffer.from('fLaC'), garbage]), /^the body is not playable flac: /],
    ['audio/flac', Buffer.concat([flacHeadAndFrames(readFileSync(encode('flac', writeWav(scratchDir(t), 'head', toneS16(480, 2, 48000), 48000, 2)))).head, garbage]), /^the body is not playable flac: no audio frame could be read/],
    ['audio/mpeg', Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), garbage]), /^the body is not playable mp3: no MPEG audio frame could be decoded/],
    ['audio/ogg', Buffer.concat([oggOpusHeadPage(), garbage]), /^the body is not playable opus: /],
  ];
  for (const [contentType, body, message] of cases) {
    const played = await post(contentType, body);
    t.equal(played.status, 400, contentType);
    t.equal(played.json.error?.code, 'E_DECODE_FAILED', contentType);
    t.match(played.json.error?.message, message, contentType);
    t.match(played.json.error?.message, /0 frames \(0\.000 s\) played$/, `${contentType}: says nothing played`);
    t.match(played.json.error?.hint, /reference decoder/);
    t.equal(played.output.length, 0, `${contentType}: nothing reached the device`);
  }
});

// The first page of an Ogg Opus stream with a broken OpusHead.
function oggOpusHeadPage(): Buffer {
  const header = Buffer.alloc(28);
  header.write('OggS', 0, 'latin1');
  header[5] = 2;
  header[26] = 1;
  header[27] = 19;
  return Buffer.concat([header, Buffer.from('OpusHead\xff\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00', 'latin1').subarray(0, 19)]);
}

t.test('a stream whose rate changes midway plays the first part and answers 400 E_FORMAT_CHANGED', async (t) => {
  const { dir, post } = await recorder(t);
  const at48 = writeWav(dir, 'a48', toneS16(48000, 2, 48000), 48000, 2);
  const at44 = writeWav(dir, 'a44', toneS16(44100, 2, 44100), 44100, 2);
  // Each link with a serial number of its own, as a chain must have (oggenc
  // otherwise picks one from the clock: two runs in a second share it).
  const chained = Buffer.concat([readFileSync(encode('vorbis', at48, ['--serial', '1'])), readFileSync(encode('vorbis', at44, ['--serial', '2']))]);
  const vorbis = await post('audio/ogg', chained);
  t.equal(vorbis.status, 400);
  t.equal(vorbis.json.error?.code, 'E_FORMAT_CHANGED');
  t.match(vorbis.json.error?.message, /^the vorbis stream changed from 48000 Hz, 2 channels to 44100 Hz, 2 channels after 48000 frames; 48000 frames \(1\.000 s\) played$/);
  t.equal(vorbis.output.length, 48000 * 4, 'the first link played, no frame of the second');

  const mp3 = Buffer.concat([readFileSync(encode('mp3', at48, ['-t'])), readFileSync(encode('mp3', at44, ['-t']))]);
  const mixed = await post('audio/mpeg', mp3);
  t.equal(mixed.status, 400);
  t.equal(mixed.json.error?.code, 'E_FORMAT_CHANGED');
  t.match(mixed.json.error?.message, /^the mp3 stream changed from 48000 Hz, 2 channels to 44100 Hz, 2 channels after \d+ frames/);

  const first = readFileSync(path.join(dir, 'a48.ogg'));
  const second = readFileSync(encode('vorbis', at48, ['--serial', '3']));
  const twice = await post('audio/ogg', Buffer.concat([first, second]));
  t.equal(twice.status, 200, 'a chain of the same format plays through');
  t.match(twice.json, { frames: 96000, truncated: false }, 'each link trimmed to its own length: gapless across the join');

  const reused = await post('audio/ogg', Buffer.concat([first, first]));
  t.equal(reused.status, 400, 'a chain whose links share a serial number: 400');
  t.equal(reused.json.error?.code, 'E_DECODE_FAILED');
  t.match(reused.json.error?.message, /^the body is not playable vorbis: two links of the Ogg chain share a serial number \(invalid Ogg, RFC 3533\)/);
});

t.test('curl --data-binary\'s content type and none at all are sniffed', async (t) => {
  const { dir, post } = await recorder(t);
  const source = writeWav(dir, 'tone', toneS16(4800, 2, 48000), 48000, 2);
  for (const kind of ['flac', 'opus', 'vorbis', 'mp3'] as const) {
    const body = readFileSync(encode(kind, source));
    for (const contentType of ['application/x-www-form-urlencoded', undefined]) {
      const played = await post(contentType, body);
      t.equal(played.status, 200, `${kind} as ${String(contentType)}`);
      t.equal(played.json.codec, kind);
    }
  }
  const wav = await post(undefined, readFileSync(source));
  t.equal(wav.status, 200, 'WAV without a type');
  t.match(wav.json, { frames: 4800 });
  t.equal(wav.json.codec, undefined, 'WAV is not decoded by a codec');
});

t.test('a client that leaves mid-upload stops its decode thread, and nothing is left behind', async (t) => {
  const { dir, server } = await recorder(t);
  const file = readFileSync(encode('flac', writeWav(dir, 'long', toneS16(48000 * 4, 2, 48000), 48000, 2)));
  const threadsBefore = threadCount();
  const fdsBefore = openFds(process.pid);
  const controller = new AbortController();
  const leaving = postStreaming(`${server.url}/v1/streams`, 'audio/flac', {}, controller.signal);
  leaving.writer.write(file.subarray(0, file.length / 2));
  await waitForStreams(server.url, 1);
  t.ok(threadCount() > threadsBefore, 'the stream has its decode thread');
  t.same(decodeThreads(), [{ name: 'speakerd-decode', nice: 10 }], 'named, and behind the JS thread (nice 10)');
  controller.abort();
  await leaving.response.catch(() => undefined);
  t.same(await waitForStreams(server.url, 0), [], 'the stream is gone');
  t.equal(threadCount(), threadsBefore, 'its decode thread has ended');
  t.equal(openFds(process.pid), fdsBefore, 'its eventfd is closed (sockets aside)');
});

t.test('WebM with Opus (libwebm\'s parser, libopus) plays what opusdec makes of the same packets in Ogg', async (t) => {
  const { dir, post } = await recorder(t, { AUDIO_CHANNELS: '6' });
  const stereo = encode('opus', writeWav(dir, 'tone', toneS16(48000 * 2 + 123, 2, 48000), 48000, 2));
  const surround = encode('opus', writeWav(dir, 'surround', toneS16(48000, 6, 48000), 48000, 6));
  for (const [name, opus, live] of [['stereo, sizes known, with cues', stereo, false], ['stereo, live (unknown sizes, as MediaRecorder writes)', stereo, true], ['5.1, live', surround, true]] as const) {
    const reference = referenceDecode('opus', opus);
    const played = await post('audio/webm;codecs=opus', readFileSync(webmFromOggOpus(opus, live)));
    t.equal(played.status, 200, `${name}: 200`);
    t.match(played.json, { codec: 'webm', truncated: false, decodeErrors: 0 }, `${name}: the result`);
    // The device has 6 channels: stereo fills the first two and leaves the rest silent.
    const channels = reference.channels;
    const output = channels === 6 ? played.output : firstChannels(played.output, 6, 2);
    t.equal(output.length, reference.data.length, `${name}: the same length as opusdec's (pre-skip and end padding dropped)`);
    for (let c = 0; c < channels; c++) {
      const snr = snrDb(channelOf(reference.data, channels, c), channelOf(output, channels, c));
      t.ok(snr >= 60, `${name}: channel ${c}, SNR ${snr.toFixed(1)} dB against opusdec`);
    }
  }
  const whole = readFileSync(webmFromOggOpus(stereo, true));
  const cut = await post(undefined, whole.subarray(0, Math.floor(whole.length * 0.6)));
  t.equal(cut.status, 200, 'a live WebM cut in a block, sniffed: 200');
  t.match(cut.json, { codec: 'webm', truncated: true });
  const sized = readFileSync(webmFromOggOpus(stereo, false));
  const short = await post('audio/webm', sized.subarray(0, Math.floor(sized.length * 0.6)));
  t.match(short.json, { codec: 'webm', truncated: true }, 'a WebM of known size cut short: truncated');
  const notOpus = await post('audio/webm', Buffer.concat([sized.subarray(0, 40), Buffer.alloc(2000, 0xee)]));
  t.equal(notOpus.status, 400, 'EBML that breaks off into garbage: 400');
  t.equal(notOpus.json.error?.code, 'E_DECODE_FAILED');
  t.match(notOpus.json.error?.message, /^the body is not playable webm: no Opus track before the first cluster; 0 frames/);
});

function firstChannels(pcm: Buffer, channels: number, keep: number): Buffer {
  const frames = pcm.length / (2 * channels);
  const out = Buffer.alloc(frames * keep * 2);
  for (let i = 0; i < frames; i++) for (let c = 0; c < keep; c++) out.writeInt16LE(pcm.readInt16LE((i * channels + c) * 2), (i * keep + c) * 2);
  return out;
}

/** This process's decode threads: name and nice value, from /proc. */
function decodeThreads(): { name: string; nice: number }[] {
  const found: { name: string; nice: number }[] = [];
  for (const task of readdirSync('/proc/self/task')) {
    const name = readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim();
    if (name !== 'speakerd-decode') continue;
    // Field 19 of stat, counted after the parenthesised name (which may hold spaces).
    const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
    found.push({ name, nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) });
  }
  return found;
}

t.test('a compressed body whose bytes trickle without decoding to audio is 408 E_STREAM_IDLE, and leaves nothing behind', async (t) => {
  const { dir, server } = await recorder(t, { STREAM_IDLE_TIMEOUT_MS: '400' });
  const flac = readFileSync(encode('flac', writeWav(dir, 'tone', toneS16(4800, 2, 48000), 48000, 2)));
  const { head } = flacHeadAndFrames(flac);
  const threadsBefore = threadCount();
  const sending = postStreaming(`${server.url}/v1/streams`, 'audio/flac');
  sending.writer.write(head);
  // Bytes keep coming, one every 20 ms, but none is a frame: no audio.
  let stop = false;
  const trickle = (async () => {
    for (let i = 0; !stop && i < 500; i++) {
      sending.writer.write(Buffer.from([0x5a]));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const response = await sending.response;
  stop = true;
  await trickle;
  t.equal(response.status, 408);
  const body = (await response.json()) as { error: { code: string; message: string } };
  t.equal(body.error.code, 'E_STREAM_IDLE');
  t.match(body.error.message, /0 frames \(0\.000 s\) played/);
  sending.writer.fail();
  t.same(await waitForStreams(server.url, 0), [], 'the stream is gone');
  t.equal(threadCount(), threadsBefore, 'its decode thread has ended');
});
