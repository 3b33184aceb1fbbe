import t from 'tap';
import { once } from 'node:events';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { openDevice, type Device, type NativeError, type StreamResult } from '../../src/engine/native';
import { filePcmConfig, openFdCount, s16Pattern, scratchDir, threadCount } from '../pcm-fixtures';

// The fault-injecting PCM (native/src/fault_pcm.h) over a file PCM: frames go
// to a file until the fault frame, then every call answers the chosen errno,
// as an unplugged card does. Its open and fault counters are per definition
// name and per process, so every test uses names of its own.

const { ENXIO, EIO, EACCES, EBUSY, ENODEV, EINVAL } = constants.errno;
const EBADFD = 77; // Linux's; not among Node's errno constants

const FRAME_BYTES = 4; // S16_LE stereo

/** `pcm.NAME { type speakerd_fault BODY }` next to `pcm.NAME_out`, a file PCM recording to `file`. */
function faultDefinition(name: string, file: string, body: string): string {
  return `${filePcmConfig(`${name}_out`, file)}\npcm.${name} { type speakerd_fault ${body} }`;
}

/** A speakerd_fault PCM over the file PCM, with `fields` added. */
function faultConfig(name: string, file: string, fields: string): string {
  return faultDefinition(name, file, `slave.pcm "${name}_out" ${fields}`);
}

function openFault(name: string, file: string, fields: string): Promise<Device> {
  return openDevice({ pcm: name, alsaConfig: faultConfig(name, file, fields), underrun: 'wait', periodFrames: 256, periods: 4 });
}

async function rejection(promise: Promise<unknown>): Promise<NativeError> {
  return (await promise.then(
    () => {
      throw new Error('resolved, want a rejection');
    },
    (e: unknown) => e,
  )) as NativeError;
}

/** What the leak check needs of a tap Test. */
interface Asserts {
  ok(value: unknown, message: string): unknown;
  equal(found: unknown, wanted: unknown, message: string): unknown;
}

/** Records the fd and thread counts now; check() asserts both come back (call it after close). */
function leakCheck(t: Asserts) {
  const fds = openFdCount();
  const threads = threadCount();
  return {
    /** While a failed device is still open its playback thread may or may not have exited. */
    threadsWhileOpen(): void {
      const now = threadCount();
      t.ok(now === threads || now === threads + 1, `at most the playback thread is running (${now - threads} extra)`);
    },
    // A joined thread can still be listed for a moment: pthread_join returns
    // when the kernel clears the thread's tid, just before it is reaped.
    async check(): Promise<void> {
      const deadline = performance.now() + 2000;
      while ((openFdCount() !== fds || threadCount() !== threads) && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      t.equal(openFdCount(), fds, 'no file descriptor leaked');
      t.equal(threadCount(), threads, 'no thread leaked');
    },
  };
}

/** Collects garbage until what V8 and malloc hold has settled, so that RSS compares like with like. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function fileFrames(file: string): number {
  return statSync(file).size / FRAME_BYTES;
}

// The first close starts libuv's thread pool (CloseWorker), and the first
// open loads alsa.conf: warm up, so that the per-test baselines do not count
// threads and memory taken once per process.
t.before(async () => {
  const dir = scratchDir(t);
  const device = await openDevice({ pcm: 'warm', alsaConfig: filePcmConfig('warm', path.join(dir, 'warm.raw')), underrun: 'wait' });
  await device.close();
  await new Promise((resolve) => setTimeout(resolve, 100)); // its playback thread reaped
});

t.test('fail_at_frame: the device is lost at the fault frame, exactly that much reaches the file', async (t) => {
  const file = path.join(scratchDir(t), 'out.raw');
  const F = 10_000;
  const leaks = leakCheck(t);
  const device = await openFault('lost_at_frame', file, `fail_at_frame ${F}`);
  t.same(device.info, { pcm: 'lost_at_frame', format: 'S16_LE', rate: 48000, channels: 2, periodFrames: 256, bufferFrames: 1024, frameBytes: 4, access: 'mmap', card: null });
  const errorEvent = once(device, 'error') as Promise<[NativeError]>;
  const logs: string[] = [];
  device.on('log', (line: string) => logs.push(line));

  const samples = s16Pattern(48_000, 2, 11);
  // A ring far smaller than the signal: the writer is waiting for room when the device goes.
  const stream = device.createStream({ ringFrames: 4096 });
  t.equal(await stream.writeAll(samples), false, 'writeAll gives up once the stream has ended');
  stream.end(); // harmless after done
  const result = await stream.finished();
  t.equal(result.outcome, 'device_lost');
  t.ok(result.frames > 0 && result.frames <= F, `frames counted before the fault: 0 < ${result.frames} <= ${F}`);
  t.equal(stream.stats().phase, 'retired');
  t.equal(stream.stats().framesPlayed, result.frames);
  t.equal(stream.write(samples.subarray(0, 1024)), 0, 'a lost stream takes no more frames');

  const [error] = await errorEvent;
  t.type(error, Error);
  t.equal(error.code, 'E_DEVICE_LOST');
  t.equal(error.errno, ENODEV);
  t.equal(error.message, 'PCM "lost_at_frame": mmap_commit failed: No such device');
  t.same(error.alsaMessages, []);

  const stats = device.stats();
  t.equal(stats.failed, true);
  t.equal(stats.open, true);
  t.equal(stats.running, false);
  t.equal(stats.streams, 0);
  t.equal(stats.xruns, 0, 'a lost device is not an xrun');
  // Every write and every chunk here is whole buffers of 1024 frames, so no
  // chunk is split at the buffer's end (see the next test for one that is).
  t.equal(stats.framesCommitted, result.frames, 'the device counts what the stream counts');
  t.throws(() => device.createStream(), { name: 'Error', code: 'E_DEVICE_LOST', errno: ENODEV, message: 'PCM "lost_at_frame": mmap_commit failed: No such device' });
  t.throws(() => device.createStream(), { code: 'E_DEVICE_LOST' }, 'and again: the device stays failed');
  leaks.threadsWhileOpen();

  await device.close();
  t.equal(device.stats().open, false);
  t.equal(device.stats().failed, false, 'a closed device reports closed, not failed');
  t.throws(() => device.createStream(), { name: 'TypeError', code: 'E_DEVICE_CLOSED' });
  await leaks.check();
  t.same(logs.filter((l) => !l.includes('SCHED_FIFO')), [], 'nothing but the priority line was logged');

  const written = readFileSync(file);
  t.equal(written.length, F * FRAME_BYTES, `the file holds exactly ${F} frames`);
  t.ok(written.equals(samples.subarray(0, F * FRAME_BYTES)), 'and they are the first frames written, bit-exact');
});

t.test('a fault in the second piece of a chunk that wraps the buffer', async (t) => {
  // 300 frames first: one chunk, and the PCM starts. Then 2000: the next chunk
  // is a whole buffer (1024 frames) from offset 300, committed as 724 frames
  // up to the end of the buffer and 300 from its start. The fault at frame
  // 1100 hits the second piece, after the first reached the device.
  const file = path.join(scratchDir(t), 'out.raw');
  const leaks = leakCheck(t);
  const device = await openFault('lost_mid_chunk', file, 'fail_at_frame 1100');
  const errorEvent = once(device, 'error') as Promise<[NativeError]>;
  const samples = s16Pattern(2300, 2, 51);
  const stream = device.createStream();
  t.equal(stream.write(samples.subarray(0, 300 * FRAME_BYTES)), 300);
  const deadline = performance.now() + 5000;
  while (device.stats().framesCommitted < 300 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
  t.equal(device.stats().framesCommitted, 300, 'the first chunk was committed');
  t.equal(stream.write(samples.subarray(300 * FRAME_BYTES)), 2000);
  const result = await stream.finished();
  const [error] = await errorEvent;
  t.equal(result.outcome, 'device_lost');
  t.equal(result.frames, 1024, 'the stream counts the 300 frames and the 724 of the piece that was committed');
  t.equal(error.message, 'PCM "lost_mid_chunk": mmap_commit failed: No such device');
  t.equal(device.stats().framesCommitted, result.frames, 'the device counts what the stream counts');
  await device.close();
  await leaks.check();
  const written = readFileSync(file);
  t.equal(written.length, 1100 * FRAME_BYTES);
  t.ok(written.equals(samples.subarray(0, 1100 * FRAME_BYTES)), 'the file holds the first 1100 frames, bit-exact');
});

/** Polls until the process runs `threads` threads again, and says whether it did. */
async function threadsBackTo(threads: number): Promise<boolean> {
  const deadline = performance.now() + 2000;
  while (threadCount() !== threads && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  return threadCount() === threads;
}

const disconnectedMessage = (pcm: string, seenAt: string) => `PCM "${pcm}": disconnected (the card was unplugged or its driver unbound), seen at ${seenAt}: No such device`;

/** The device's events do not keep the process alive (an idle service must exit): a test waiting only for them does. */
async function eventOf<T extends unknown[]>(device: Device, name: string): Promise<T> {
  const keepAlive = setInterval(() => {}, 1000);
  try {
    return (await once(device, name)) as T;
  } finally {
    clearInterval(keepAlive);
  }
}

t.test('fail_mode disconnect mid-stream: a card that goes away with no errno (state DISCONNECTED, POLLERR, frozen pointer) is lost, and the thread exits instead of spinning', async (t) => {
  const file = path.join(scratchDir(t), 'out.raw');
  const F = 10_000;
  const leaks = leakCheck(t);
  const threads = threadCount();
  const device = await openFault('disconnect_at_frame', file, `fail_at_frame ${F} fail_mode disconnect`);
  const errorEvent = once(device, 'error') as Promise<[NativeError]>;
  const samples = s16Pattern(48_000, 2, 12);
  const stream = device.createStream({ ringFrames: 4096 });
  t.equal(await stream.writeAll(samples), false, 'writeAll gives up once the stream has ended');
  const result = await stream.finished();
  t.equal(result.outcome, 'device_lost');
  // A disconnected card still takes what fits in its buffer, and never plays it.
  t.ok(result.frames >= F && result.frames < F + 1024, `frames counted: ${F} <= ${result.frames} < ${F} + one buffer`);

  const [error] = await errorEvent;
  t.equal(error.code, 'E_DEVICE_LOST');
  t.equal(error.errno, ENODEV);
  // alsa-lib's own state check answers mmap_begin with ENODEV, unless the
  // thread was already waiting for room, when POLLERR wakes it.
  t.match(error.message, /^PCM "disconnect_at_frame": disconnected \(the card was unplugged or its driver unbound\), seen at (mmap_commit|poll): No such device$/);
  t.ok(await threadsBackTo(threads), 'the playback thread has exited while the PCM is still open: nothing spins on POLLERR');
  const stats = device.stats();
  t.equal(stats.failed, true);
  t.equal(stats.running, false);
  t.equal(stats.xruns, 0, 'a disconnect is not an xrun');
  t.throws(() => device.createStream(), { code: 'E_DEVICE_LOST', message: error.message });

  await device.close();
  await leaks.check();
  const written = readFileSync(file);
  t.equal(written.length, F * FRAME_BYTES, `the file holds exactly the ${F} frames played before the disconnect`);
  t.ok(written.equals(samples.subarray(0, F * FRAME_BYTES)), 'bit-exact');
});

t.test('fail_mode disconnect while idle: a stopped device with no stream is found lost through its descriptors, with no call from anyone', async (t) => {
  const file = path.join(scratchDir(t), 'out.raw');
  const leaks = leakCheck(t);
  const threads = threadCount();
  const device = await openFault('disconnect_idle', file, 'fail_after_ms 50 fail_mode disconnect');
  const [error] = await eventOf<[NativeError]>(device, 'error');
  t.equal(error.code, 'E_DEVICE_LOST');
  t.equal(error.errno, ENODEV);
  t.equal(error.message, disconnectedMessage('disconnect_idle', 'poll'));
  t.ok(await threadsBackTo(threads), 'the playback thread has exited');
  t.equal(device.stats().framesCommitted, 0, 'nothing was played');
  t.equal(device.stats().failed, true);
  await device.close();
  await leaks.check();
});

t.test('fail_after_ms in errno mode while idle: POLLERR on a stopped device makes the thread ask it, and its error is the loss', async (t) => {
  const file = path.join(scratchDir(t), 'out.raw');
  const leaks = leakCheck(t);
  const device = await openFault('errno_idle', file, 'fail_after_ms 50 fail_errno EIO');
  const [error] = await eventOf<[NativeError]>(device, 'error');
  t.equal(error.code, 'E_DEVICE_LOST');
  t.equal(error.errno, EIO);
  t.equal(error.message, 'PCM "errno_idle": avail_update failed (Broken pipe, then recovery failed): Input/output error');
  t.equal(device.stats().xruns, 0);
  await device.close();
  await leaks.check();
});

t.test('fail_mode must be errno or disconnect', async (t) => {
  const error = await rejection(openFault('bad_fail_mode', path.join(scratchDir(t), 'out.raw'), 'fail_mode unplug'));
  t.equal(error.code, 'E_ALSA_CONFIG');
  t.equal(error.message, 'PCM "bad_fail_mode" (type speakerd_fault): fail_mode must be errno or disconnect');
});

t.test('fail_errno: ENODEV, EBADFD, EIO and ENXIO are device loss; other errnos are E_ALSA_IO', async (t) => {
  const dir = scratchDir(t);
  const cases: [fields: string, code: string, errno: number, text: string][] = [
    ['fail_errno EBADFD', 'E_DEVICE_LOST', EBADFD, 'File descriptor in bad state'],
    ['fail_errno EIO', 'E_DEVICE_LOST', EIO, 'Input/output error'],
    ['fail_errno ENXIO', 'E_DEVICE_LOST', ENXIO, 'No such device or address'],
    ['fail_errno 5', 'E_DEVICE_LOST', EIO, 'Input/output error'],
    ['', 'E_DEVICE_LOST', ENODEV, 'No such device'],
    ['fail_errno EINVAL', 'E_ALSA_IO', EINVAL, 'Invalid argument'],
    ['fail_errno EBUSY', 'E_ALSA_IO', EBUSY, 'Device or resource busy'],
  ];
  const F = 3000;
  const samples = s16Pattern(8000, 2, 3);
  for (const [i, [fields, code, errno, text]] of cases.entries()) {
    const name = `errno_case_${i}`;
    const file = path.join(dir, `${name}.raw`);
    const leaks = leakCheck(t);
    const device = await openFault(name, file, `fail_at_frame ${F} ${fields}`);
    const errorEvent = once(device, 'error') as Promise<[NativeError]>;
    const stream = device.createStream();
    t.equal(stream.write(samples), 8000, `${fields || 'default'}: the ring takes the whole signal`);
    stream.end();
    const result = await stream.finished();
    const [error] = await errorEvent;
    t.equal(result.outcome, 'device_lost', `${fields || 'default'}: the stream ends device_lost`);
    t.ok(result.frames > 0 && result.frames <= F, `${fields || 'default'}: 0 < ${result.frames} <= ${F}`);
    t.equal(error.code, code, `${fields || 'default'}: code`);
    t.equal(error.errno, errno, `${fields || 'default'}: errno`);
    t.equal(error.message, `PCM "${name}": mmap_commit failed: ${text}`);
    t.equal(device.stats().failed, true);
    t.throws(() => device.createStream(), { name: 'Error', code, errno, message: error.message }, `${fields || 'default'}: createStream throws the same error`);
    await device.close();
    await leaks.check();
    t.equal(fileFrames(file), F, `${fields || 'default'}: the file holds exactly ${F} frames`);
  }
});

t.test('every stream attached when the fault hits ends device_lost', async (t) => {
  const file = path.join(scratchDir(t), 'out.raw');
  const F = 6000;
  const leaks = leakCheck(t);
  const device = await openFault('lost_many', file, `fail_at_frame ${F} fail_errno EIO`);
  const errorEvent = once(device, 'error') as Promise<[NativeError]>;
  let idle = 0;
  device.on('idle', () => idle++);
  const streams = [1, 2, 3, 4].map(() => device.createStream({ gain: 0.25 }));
  t.equal(device.stats().streams, 4);
  // Four writers, each of far more than the fault frame.
  const writes = streams.map((stream, i) => stream.writeAll(s16Pattern(20_000, 2, 100 + i)).then((all) => (stream.end(), all)));
  const results: StreamResult[] = await Promise.all(streams.map((stream) => stream.finished()));
  t.same(await Promise.all(writes), [true, true, true, true], 'the default ring takes each writer whole');
  for (const [i, result] of results.entries()) {
    t.equal(result.outcome, 'device_lost', `stream ${i + 1}: device_lost`);
    t.ok(result.frames > 0 && result.frames <= F, `stream ${i + 1}: 0 < ${result.frames} <= ${F}`);
  }
  t.same(
    results.map((r) => r.frames),
    results.map(() => results[0]!.frames),
    'streams created together were mixed together, so each counts the same frames',
  );
  const [error] = await errorEvent;
  t.equal(error.code, 'E_DEVICE_LOST');
  t.equal(error.errno, EIO);
  t.equal(error.message, 'PCM "lost_many": mmap_commit failed: Input/output error');
  t.equal(idle, 1, "the device went idle once, when the last stream's done arrived");
  t.equal(device.stats().streams, 0);
  t.equal(device.stats().failed, true);
  t.throws(() => device.createStream(), { code: 'E_DEVICE_LOST', errno: EIO });
  await device.close();
  await leaks.check();
  t.equal(fileFrames(file), F);
});

t.test('refuse_opens/refuse_from: the refused opens reject with E_ALSA_OPEN and the errno, the next plays bit-exact', async (t) => {
  const dir = scratchDir(t);
  const leaks = leakCheck(t);
  const fields = 'refuse_opens 2 refuse_from 2 refuse_errno EBUSY';

  // Open 1 is before the refused range.
  const first = await openFault('refused_range', path.join(dir, 'first.raw'), fields);
  await first.close();
  for (const open of [2, 3]) {
    const error = await rejection(openFault('refused_range', path.join(dir, `refused${open}.raw`), fields));
    t.type(error, Error);
    t.equal(error.code, 'E_ALSA_OPEN', `open ${open}: E_ALSA_OPEN`);
    t.equal(error.errno, EBUSY, `open ${open}: EBUSY`);
    t.equal(error.message, 'cannot open PCM "refused_range": Device or resource busy');
    t.same(error.alsaMessages, []);
  }
  await leaks.check();

  // Open 4 is past the range, and no fault is configured: it plays every frame.
  const file = path.join(dir, 'played.raw');
  const device = await openFault('refused_range', file, fields);
  let errors = 0;
  device.on('error', () => errors++);
  const samples = s16Pattern(30_000, 2, 21);
  const stream = device.createStream();
  t.equal(await stream.writeAll(samples), true);
  stream.end();
  const result = await stream.finished();
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 30_000);
  t.equal(device.stats().failed, false);
  await device.close();
  t.equal(errors, 0, 'no error event');
  await leaks.check();
  const written = readFileSync(file);
  t.equal(written.length, samples.length);
  t.ok(written.equals(samples), 'the file holds the samples, bit-exact');
});

t.test('refuse_errno takes a number, and defaults to ENODEV', async (t) => {
  const dir = scratchDir(t);
  const leaks = leakCheck(t);
  await t.rejects(openFault('refused_numeric', path.join(dir, 'a.raw'), 'refuse_opens 1 refuse_errno 13'), {
    code: 'E_ALSA_OPEN',
    errno: EACCES,
    message: 'cannot open PCM "refused_numeric": Permission denied',
  });
  await t.rejects(openFault('refused_default', path.join(dir, 'b.raw'), 'refuse_opens 1'), {
    code: 'E_ALSA_OPEN',
    errno: ENODEV,
    message: 'cannot open PCM "refused_default": No such device',
  });
  // Each definition counts its own opens: the second open of each succeeds.
  for (const name of ['refused_numeric', 'refused_default']) {
    const device = await openFault(name, path.join(dir, `${name}.raw`), name === 'refused_numeric' ? 'refuse_opens 1 refuse_errno 13' : 'refuse_opens 1');
    t.equal(device.info.pcm, name, `${name}: the second open succeeds`);
    await device.close();
  }
  await leaks.check();
});

t.test('refuse_while_file: opens from refuse_from on are refused while the file exists, and the first open after it is gone plays', async (t) => {
  const dir = scratchDir(t);
  const leaks = leakCheck(t);
  const gate = path.join(dir, 'absent');
  writeFileSync(gate, '');
  const fields = `refuse_from 2 refuse_errno ENODEV refuse_while_file "${gate}"`;

  // Open 1 is before refuse_from: the gate does not apply to it.
  const first = await openFault('gated', path.join(dir, 'first.raw'), fields);
  await first.close();
  for (const open of [2, 3, 4]) {
    await t.rejects(openFault('gated', path.join(dir, `refused${open}.raw`), fields), {
      code: 'E_ALSA_OPEN',
      errno: ENODEV,
      message: 'cannot open PCM "gated": No such device',
    }, `open ${open}, while ${path.basename(gate)} exists`);
  }
  unlinkSync(gate);
  const file = path.join(dir, 'played.raw');
  const device = await openFault('gated', file, fields);
  const samples = s16Pattern(4800, 2, 22);
  const stream = device.createStream();
  t.equal(await stream.writeAll(samples), true);
  stream.end();
  t.match(await stream.finished(), { outcome: 'played', frames: 4800 });
  await device.close();
  t.ok(readFileSync(file).equals(samples), 'the open after the gate went plays bit-exact');
  await leaks.check();
});

t.test('fail_times 1: the first instance is lost, the next open of the definition plays a whole stream bit-exact', async (t) => {
  const dir = scratchDir(t);
  const F = 5000;
  const fields = `fail_at_frame ${F} fail_times 1`;
  const leaks = leakCheck(t);
  const samples = s16Pattern(40_000, 2, 31);

  const lostFile = path.join(dir, 'lost.raw');
  const lost = await openFault('fail_once', lostFile, fields);
  const errorEvent = once(lost, 'error') as Promise<[NativeError]>;
  const first = lost.createStream();
  await first.writeAll(samples);
  first.end();
  const firstResult = await first.finished();
  t.equal(firstResult.outcome, 'device_lost');
  t.ok(firstResult.frames > 0 && firstResult.frames <= F, `0 < ${firstResult.frames} <= ${F}`);
  const [error] = await errorEvent;
  t.equal(error.code, 'E_DEVICE_LOST');
  t.equal(error.errno, ENODEV);
  t.equal(error.message, 'PCM "fail_once": mmap_commit failed: No such device');
  await lost.close();
  t.ok(readFileSync(lostFile).equals(samples.subarray(0, F * FRAME_BYTES)), `the first instance recorded exactly the first ${F} frames`);

  // Same definition name, so the same counters; a new file so the two runs stay apart.
  const playedFile = path.join(dir, 'played.raw');
  const device = await openFault('fail_once', playedFile, fields);
  let errors = 0;
  device.on('error', () => errors++);
  const second = device.createStream();
  t.equal(await second.writeAll(samples), true);
  second.end();
  const result = await second.finished();
  t.equal(result.outcome, 'played');
  t.equal(result.frames, 40_000);
  t.equal(device.stats().failed, false);
  t.equal(device.stats().framesCommitted, 40_000);
  // The device stays usable: a further stream plays too.
  const third = device.createStream();
  third.write(samples.subarray(0, 1000 * FRAME_BYTES));
  third.end();
  t.same(await third.finished().then((r) => [r.outcome, r.frames]), ['played', 1000]);
  await device.close();
  t.equal(errors, 0, 'no error event on the second instance');
  await leaks.check();
  const written = readFileSync(playedFile);
  t.equal(written.length, samples.length + 1000 * FRAME_BYTES);
  t.ok(written.subarray(0, samples.length).equals(samples), 'the second instance played every frame, bit-exact');
});

/** Settles with `promise`, noting in `order` when it did. */
function noted<T>(order: string[], name: string, promise: Promise<T>): Promise<T> {
  return promise.finally(() => order.push(name));
}

/** A timer noted in `order` when it fires. */
function timer(order: string[], name: string, ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(() => { order.push(name); resolve(); }, ms));
}

// libuv runs due timers before it polls for completed work: a timer of half
// the delay fires before a delayed open's answer however late the process
// gets the CPU, and a timer firing at all shows the event loop turning.
t.test('open_delay_ms blocks the open, not the event loop; delay_opens 1 delays only the first open', async (t) => {
  const dir = scratchDir(t);
  const T = 400;
  const leaks = leakCheck(t);
  const fields = `open_delay_ms ${T} delay_opens 1`;

  const order: string[] = [];
  const slowOpen = noted(order, 'open 1', openFault('slow_open', path.join(dir, 'slow.raw'), fields));
  await Promise.all([slowOpen, timer(order, 'timer T/2', T / 2)]);
  t.same(order, ['timer T/2', 'open 1'], 'the event loop ran a timer while the first open waited in the driver');
  await (await slowOpen).close();

  // Opens 2 and 3 race an open of another definition delayed by T and
  // started first: undelayed, both answer before it.
  const raced: string[] = [];
  const reference = noted(raced, 'delayed reference', openFault('slow_reference', path.join(dir, 'reference.raw'), `open_delay_ms ${T}`));
  for (const open of [2, 3]) {
    const device = await noted(raced, `open ${open}`, openFault('slow_open', path.join(dir, `fast${open}.raw`), fields));
    await device.close();
  }
  await (await reference).close();
  t.same(raced, ['open 2', 'open 3', 'delayed reference'], 'opens 2 and 3 were not delayed');

  // Without delay_opens every open is delayed; a delayed open that is then
  // refused takes the delay first, as a driver stuck in open would.
  const every = 'open_delay_ms 150 refuse_opens 1 refuse_errno EBUSY';
  for (const open of [1, 2]) {
    const delayed: string[] = [];
    const outcome = noted(delayed, 'answer', openFault('slow_every', path.join(dir, `every${open}.raw`), every).then(
      async (device) => {
        await device.close();
        return 'opened';
      },
      (e: NativeError) => `${e.code} ${e.errno}`,
    ));
    await timer(delayed, 'timer', 75);
    t.equal(await outcome, open === 1 ? 'E_ALSA_OPEN 16' : 'opened', `open ${open}: ${await outcome}`);
    t.same(delayed, ['timer', 'answer'], `open ${open} was delayed`);
  }
  await leaks.check();
});

t.test('malformed definitions reject with E_ALSA_CONFIG, EINVAL and a message naming the PCM and the problem', async (t) => {
  const dir = scratchDir(t);
  const leaks = leakCheck(t);
  const slave = (name: string) => `slave.pcm "${name}_out"`;
  const cases: [name: string, fields: (name: string) => string, problem: string][] = [
    ['bad_field', (n) => `${slave(n)} fail_at_frames 10`, 'unknown field fail_at_frames'],
    ['bad_no_slave', () => 'fail_at_frame 10', 'slave.pcm must name the PCM that receives the frames'],
    ['bad_slave_string', (n) => `slave "${n}_out"`, 'slave.pcm must name the PCM that receives the frames'],
    ['bad_negative_frame', (n) => `${slave(n)} fail_at_frame -1`, 'fail_at_frame must be a whole number >= 0'],
    ['bad_negative_refuse', (n) => `${slave(n)} refuse_opens -2`, 'refuse_opens must be a whole number >= 0'],
    ['bad_negative_delay', (n) => `${slave(n)} open_delay_ms -5`, 'open_delay_ms must be a whole number >= 0'],
    ['bad_fraction', (n) => `${slave(n)} fail_times 1.5`, 'fail_times must be a whole number >= 0'],
    ['bad_text_number', (n) => `${slave(n)} delay_opens "two"`, 'delay_opens must be a whole number >= 0'],
    ['bad_errno_name', (n) => `${slave(n)} fail_errno ENOSUCHERRNO`, 'fail_errno must be an errno name such as ENODEV, or a positive number'],
    ['bad_errno_zero', (n) => `${slave(n)} refuse_errno 0`, 'refuse_errno must be an errno name such as ENODEV, or a positive number'],
    ['bad_errno_negative', (n) => `${slave(n)} refuse_errno -19`, 'refuse_errno must be an errno name such as ENODEV, or a positive number'],
    ['bad_gate_empty', (n) => `${slave(n)} refuse_while_file ""`, 'refuse_while_file must name a file'],
    ['bad_gate_number', (n) => `${slave(n)} refuse_while_file 3`, 'refuse_while_file must name a file'],
  ];
  for (const [name, fields, problem] of cases) {
    const alsaConfig = faultDefinition(name, path.join(dir, `${name}.raw`), fields(name));
    const error = await rejection(openDevice({ pcm: name, alsaConfig, underrun: 'wait' }));
    t.type(error, Error, name);
    t.equal(error.code, 'E_ALSA_CONFIG', `${name}: E_ALSA_CONFIG`);
    t.equal(error.errno, EINVAL, `${name}: EINVAL`);
    t.equal(error.message, `PCM "${name}" (type speakerd_fault): ${problem}`);
    t.same(error.alsaMessages, [], `${name}: alsa-lib printed nothing`);
  }
  // A well-formed definition whose slave does not exist is an open error, not a config one.
  await t.rejects(openDevice({ pcm: 'bad_slave_name', alsaConfig: 'pcm.bad_slave_name { type speakerd_fault slave.pcm "no_such_slave" }', underrun: 'wait' }), {
    code: 'E_ALSA_OPEN',
    errno: 2,
    message: 'cannot open PCM "bad_slave_name": No such file or directory',
    alsaMessages: ['snd_pcm_open_noupdate: Unknown PCM no_such_slave'],
  });
  await leaks.check();
});

t.test('200 cycles of open, stream, device loss and close leak no fds or threads, and RSS stays flat', async (t) => {
  const dir = scratchDir(t);
  const F = 4000;
  const samples = s16Pattern(12_000, 2, 41);
  const cycle = async (i: number) => {
    const file = path.join(dir, `cycle${i % 2}.raw`);
    const device = await openFault('churn', file, `fail_at_frame ${F} fail_errno ${i % 2 ? 'EBADFD' : 'ENODEV'}`);
    const errorEvent = once(device, 'error') as Promise<[NativeError]>;
    const stream = device.createStream({ ringFrames: 2048 });
    await stream.writeAll(samples);
    stream.end();
    const [result, [error]] = await Promise.all([stream.finished(), errorEvent]);
    if (result.outcome !== 'device_lost' || result.frames > F || error.code !== 'E_DEVICE_LOST' || error.errno !== (i % 2 ? EBADFD : ENODEV)) {
      t.fail(`cycle ${i}: ${result.outcome} ${result.frames} ${error.code} ${error.errno}`);
    }
    await device.close();
    if (fileFrames(file) !== F) t.fail(`cycle ${i}: the file holds ${fileFrames(file)} frames, want ${F}`);
  };
  // Warm up: malloc arenas, the thread-stack cache and V8's heap settle first.
  for (let i = 0; i < 100; i++) await cycle(i);
  await settle();
  const rssBefore = process.memoryUsage.rss();
  const leaks = leakCheck(t);
  const started = performance.now();
  for (let i = 0; i < 200; i++) await cycle(i);
  const perCycleMs = (performance.now() - started) / 200;
  await settle();
  await leaks.check();
  const rssGrowthMiB = (process.memoryUsage.rss() - rssBefore) / 2 ** 20;
  t.ok(global.gc, 'tests run with --expose-gc');
  t.ok(rssGrowthMiB < 4, `RSS grew by ${rssGrowthMiB.toFixed(2)} MiB over 200 loss cycles (${perCycleMs.toFixed(1)} ms a cycle)`);
});

t.test('fail_times holds for opens that overlap: of two delayed opens of a fail_times 1 PCM, exactly one fails', async (t) => {
  const dir = scratchDir(t);
  const [first, second] = await Promise.all([
    openFault('overlap_once', path.join(dir, 'a.raw'), 'fail_at_frame 1000 fail_times 1 open_delay_ms 100'),
    openFault('overlap_once', path.join(dir, 'b.raw'), 'fail_at_frame 1000 fail_times 1 open_delay_ms 100'),
  ]);
  const outcomes: string[] = [];
  for (const device of [first, second]) {
    device.on('error', () => undefined);
    const stream = device.createStream();
    await stream.writeAll(s16Pattern(4000, 2));
    stream.end();
    outcomes.push((await stream.finished()).outcome);
    await device.close();
  }
  t.same(outcomes.sort(), ['device_lost', 'played']);
});
