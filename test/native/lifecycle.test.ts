import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { openClockSink, openDevice } from '../../src/engine/native';
import { filePcmConfig, openFdCount, s16Pattern, scratchDir, threadCount } from '../pcm-fixtures';

const nativeModule = path.resolve(__dirname, '../../dist/engine/native.js');

function runNode(code: string, options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: options.timeout ?? 20_000, env: options.env ?? process.env });
}

t.test('1000 cycles of open, create stream, abort and close leave RSS, fds and threads flat', async (t) => {
  const sink = 'pcm.sink { type file slave.pcm null file "/dev/null" format raw }';
  const cycle = async (i: number) => {
    // Alternate the clock sink (timerfd) and a file PCM (file descriptors, config parsing).
    const device = i % 2 === 0
      ? await openClockSink({ periodFrames: 256, idleMs: 0 })
      : await openDevice({ pcm: 'sink', alsaConfig: sink, underrun: 'wait', periodFrames: 256 });
    const stream = device.createStream();
    stream.write(Buffer.alloc(1024 * 4));
    stream.abort();
    await device.close();
  };
  // Warm up first: malloc arenas, glibc's thread-stack cache and V8's heap
  // settle over the first ~1000 cycles, after which RSS is flat.
  for (let i = 0; i < 1000; i++) await cycle(i);
  global.gc?.();
  const rssBefore = process.memoryUsage.rss();
  const fdsBefore = openFdCount();
  const threadsBefore = threadCount();
  for (let i = 0; i < 1000; i++) await cycle(i);
  global.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const rssGrowthMiB = (process.memoryUsage.rss() - rssBefore) / 2 ** 20;
  t.equal(openFdCount(), fdsBefore, 'no file descriptor leaked');
  t.equal(threadCount(), threadsBefore, 'no thread leaked');
  t.ok(rssGrowthMiB < 4, `RSS grew by ${rssGrowthMiB.toFixed(2)} MiB over 1000 cycles`);
});

t.test('a process that exits with a device open and a stream playing exits cleanly', async (t) => {
  const result = runNode(`
    const { openClockSink } = require(${JSON.stringify(nativeModule)});
    openClockSink({ idleMs: 0 }).then((device) => {
      const stream = device.createStream();
      stream.write(Buffer.alloc(48000 * 4));
      setTimeout(() => { console.log('exiting with', device.stats().streams, 'stream'); process.exit(0); }, 100);
    });
  `);
  t.equal(result.status, 0, result.stderr);
  t.equal(result.signal, null);
  t.equal(result.stdout, 'exiting with 1 stream\n');
  t.equal(result.stderr, '');
});

t.test('an idle open device does not keep the process alive; a playing stream does until done', async (t) => {
  // runNode's 20 s timeout only stops a hang: a process kept alive would be
  // killed by it (a signal, no output line), which the checks below catch.
  const result = runNode(`
    const { openClockSink } = require(${JSON.stringify(nativeModule)});
    openClockSink({ idleMs: 0 }).then((device) => {
      const stream = device.createStream();
      stream.write(Buffer.alloc(4800 * 4)); // 100 ms
      stream.end();
      stream.on('done', (r) => console.log('done', r.outcome, r.frames));
    });
  `);
  t.equal(result.status, 0, result.stderr);
  t.equal(result.signal, null, 'the process ended by itself after the stream');
  t.equal(result.stdout, 'done played 4800\n');
});

t.test('the addon plays from a worker thread, and a worker terminated mid-stream cleans up', async (t) => {
  const dir = scratchDir(t);
  const out = path.join(dir, 'worker.raw');
  const samples = s16Pattern(20_000, 2, 5);
  writeFileSync(path.join(dir, 'samples.raw'), samples);
  const play = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    const { openDevice } = require(${JSON.stringify(nativeModule)});
    (async () => {
      const device = await openDevice({ pcm: 'out', alsaConfig: workerData.config, underrun: 'wait' });
      const stream = device.createStream();
      await stream.writeAll(readFileSync(workerData.samples));
      stream.end();
      const result = await stream.finished();
      await device.close();
      parentPort.postMessage(result);
    })();
  `;
  const worker = new Worker(play, { eval: true, workerData: { config: filePcmConfig('out', out), samples: path.join(dir, 'samples.raw') } });
  const [result] = (await Promise.all([new Promise((resolve) => worker.once('message', resolve)), new Promise((resolve) => worker.once('exit', resolve))])) as unknown as [{ frames: number; outcome: string }];
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 20_000);
  t.ok(readFileSync(out).equals(samples), 'the worker played the samples bit-exact');

  const fdsBefore = openFdCount();
  const threadsBefore = threadCount();
  const hold = `
    const { parentPort } = require('node:worker_threads');
    const { openClockSink } = require(${JSON.stringify(nativeModule)});
    openClockSink({ idleMs: 0 }).then((device) => {
      const stream = device.createStream();
      stream.write(Buffer.alloc(48000 * 4));
      parentPort.postMessage('playing');
    });
  `;
  const holder = new Worker(hold, { eval: true });
  await new Promise((resolve) => holder.once('message', resolve));
  t.equal(await holder.terminate(), 1, 'terminated while playing');
  t.equal(openFdCount(), fdsBefore, 'the env cleanup hook closed the PCM and its descriptors');
  t.equal(threadCount(), threadsBefore, 'and joined the playback thread');
});

t.test('the shipped ALSA configuration is what alsa-lib reads: it works with /usr/share/alsa hidden', async (t) => {
  const probe = spawnSync('unshare', ['-m', 'true']);
  if (probe.status !== 0) {
    t.fail(`unshare -m is needed for this test (run as root): ${probe.stderr}`);
    return;
  }
  const empty = path.join(scratchDir(t), 'empty');
  mkdirSync(empty);
  const env = { ...process.env };
  delete env.ALSA_CONFIG_DIR;
  delete env.ALSA_CONFIG_PATH;
  // "null" is a PCM that alsa.conf defines: opening it by name needs alsa.conf.
  const script = `
    const { openDevice, alsaConfigDir } = require(${JSON.stringify(nativeModule)});
    const fs = require('node:fs');
    console.log('system alsa.conf visible:', fs.existsSync('/usr/share/alsa/alsa.conf'));
    openDevice({ pcm: 'null', underrun: 'wait' }).then(async (device) => {
      const stream = device.createStream();
      stream.write(Buffer.alloc(4096 * 4));
      stream.end();
      const result = await stream.finished();
      await device.close();
      console.log('played', result.frames, 'frames through', device.info.pcm, 'using', alsaConfigDir);
    }, (error) => { console.log('failed', error.message); process.exit(1); });
  `;
  const result = spawnSync(
    'unshare',
    ['-m', 'sh', '-c', `mount --bind "${empty}" /usr/share/alsa 2>/dev/null || mount --bind "${empty}" /usr/share && exec "$0" -e "$1"`, process.execPath, script],
    { encoding: 'utf8', env, timeout: 20_000 },
  );
  t.equal(result.status, 0, result.stderr);
  const shipped = path.resolve(__dirname, '../../deps/alsa-lib/share/alsa');
  t.equal(result.stdout, `system alsa.conf visible: false\nplayed 4096 frames through null using ${shipped}\n`);
});

t.test('the addon links alsa-lib, speexdsp and the codec libraries statically and exports none of their symbols', async (t) => {
  const addon = path.resolve(__dirname, '../../build/Release/speakerd.node');
  const ldd = spawnSync('ldd', [addon], { encoding: 'utf8' });
  t.equal(ldd.status, 0);
  t.notMatch(ldd.stdout, /libasound|libspeex|libFLAC|libogg|libopus|libvorbis|libmpg123|libwebm/, 'ldd shows none of them');
  // Each library's symbol prefix (libwebm's are C++: its namespaces).
  const theirs = / (snd_|speex_|FLAC__|ogg_|oggpack_|opus_|op_|vorbis_|ov_|mpg123_|_ZN\d*(mkvparser|mkvmuxer|webm))/;
  const nm = spawnSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8' });
  t.equal(nm.status, 0);
  t.same(nm.stdout.split('\n').filter((line) => theirs.test(line)), [], 'nm -D shows none of their symbols');
  const needed = spawnSync('nm', ['-D', '--undefined-only', addon], { encoding: 'utf8' }).stdout.split('\n').filter((l) => theirs.test(l));
  t.same(needed, [], 'and it needs none from elsewhere');
  const inside = spawnSync('nm', [addon], { encoding: 'utf8' }).stdout;
  for (const symbol of ['snd_pcm_open', 'FLAC__stream_decoder_new', 'opus_head_parse', 'ov_open_callbacks', 'mpg123_open_feed', 'opus_multistream_decode_float']) {
    t.match(inside, new RegExp(` t ${symbol}\\b`), `${symbol} is inside, local`);
  }
});
