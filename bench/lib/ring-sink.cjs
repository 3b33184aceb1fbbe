// The throughput bench's ring floor: a bare node:http server that writes
// each body chunk, as Node's parser hands it over, into one of speakerd's
// own native streams on the same PCM, and answers with the frames played.
// No Fastify, no decoder, no limits, no promise per chunk: what an HTTP
// service built on this engine pays at the least for one copy of the body
// into the ring (issue 14 allows one) and the playback thread behind it.
// speakerd against it is what speakerd's own JavaScript costs.
//
// Environment: AUDIO_DEVICE and AUDIO_ALSA_CONFIG name and define the PCM,
// as for speakerd; the body is a WAV whose header is WAV_HEADER_BYTES long
// (lib/wav.mjs), S16_LE 48 kHz stereo, as the bench sends it.
const http = require('node:http');
const path = require('node:path');

const native = require(path.join(__dirname, '..', '..', 'dist', 'engine', 'native.js'));

const WAV_HEADER_BYTES = 44;
const FRAME_BYTES = 4;
const FORMAT = { format: 'S16_LE', rate: 48000, channels: 2 };

/** Plays one body: whole frames go to the ring as views of Node's chunk; the few bytes of a split frame are carried. */
function play(request, response, device) {
  const stream = device.createStream();
  stream.setInputFormat(FORMAT);
  let headerLeft = WAV_HEADER_BYTES;
  const carry = Buffer.alloc(FRAME_BYTES);
  let carried = 0;
  let pending = null;

  const writeSome = () => {
    const written = stream.write(pending) * FRAME_BYTES;
    pending = written === pending.length ? null : pending.subarray(written);
  };
  const onDrain = () => {
    writeSome();
    if (pending) return;
    stream.off('drain', onDrain);
    request.resume();
  };
  request.on('data', (chunk) => {
    let offset = Math.min(headerLeft, chunk.length);
    headerLeft -= offset;
    let frame = null;
    if (carried > 0) {
      const taken = Math.min(FRAME_BYTES - carried, chunk.length - offset);
      chunk.copy(carry, carried, offset, offset + taken);
      carried += taken;
      offset += taken;
      if (carried < FRAME_BYTES) return;
      carried = 0;
      if (stream.write(carry) !== 1) frame = Buffer.from(carry); // the ring is full: rare, so a copy
    }
    const wholeEnd = offset + Math.floor((chunk.length - offset) / FRAME_BYTES) * FRAME_BYTES;
    carried = chunk.copy(carry, 0, wholeEnd);
    if (wholeEnd === offset && !frame) return;
    pending = frame ? Buffer.concat([frame, chunk.subarray(offset, wholeEnd)]) : chunk.subarray(offset, wholeEnd);
    writeSome();
    if (!pending) return;
    request.pause();
    stream.on('drain', onDrain);
  });
  request.on('end', async () => {
    stream.end();
    const result = await stream.finished();
    response.end(JSON.stringify({ frames: result.frames }));
  });
}

async function main() {
  const device = await native.openDevice({
    pcm: process.env.AUDIO_DEVICE,
    alsaConfig: process.env.AUDIO_ALSA_CONFIG,
    ...FORMAT,
    periodFrames: 1024,
    periods: 4,
    underrun: 'wait',
  });
  const server = http.createServer((request, response) => {
    if (request.method === 'POST') play(request, response, device);
    else response.end('{}');
  });
  server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
    // The line bench/lib/service.mjs looks for, as Fastify's pino logger prints it.
    process.stdout.write(`${JSON.stringify({ msg: `Server listening at http://127.0.0.1:${server.address().port}` })}\n`);
  });
}

main().catch((error) => {
  process.stderr.write(`ring-sink: ${error.stack}\n`);
  process.exit(1);
});
