// The supervisor's state machine, driven step by step: every open answers
// when the test says, time moves only through a manual clock, and nodes
// appear when the test calls the watcher. No real time passes, so each test
// states the order of events exactly.
import t from 'tap';
import pino from 'pino';
import type { AudioMode, AudioSettings } from '../../src/engine/audio-settings';
import { DeviceOpenError, DeviceSupervisor, type ErrorSummary } from '../../src/engine/device-supervisor';
import type { PlaybackFormat } from '../../src/engine/native';
import { ControlledOpens, FakeDevice, nativeError } from './fake-device';
import { ManualClock, settle } from './manual-clock';

const ENODEV = nativeError('E_ALSA_OPEN', 19, 'cannot open PCM "card": No such device');
const EBUSY = nativeError('E_ALSA_OPEN', 16, 'cannot open PCM "card": Device or resource busy');

function settings(mode: AudioMode, extra: Partial<AudioSettings> = {}): AudioSettings {
  return {
    mode, device: 'card', alsaConfig: undefined, rate: 48000, channels: 2, format: 'S16_LE', periodFrames: 1024, periods: 4,
    sndDir: '/snd', underrun: 'silence', idleMs: 5000, openTimeoutMs: 10_000, reopenMinMs: 500, reopenMaxMs: 4000, lostRestartS: 60,
    duckDb: -20, duckRampMs: 50, fadeMs: 20, mixerElement: undefined, volumeDb: 0, clockPpm: 0, clockTimeline: undefined,
    ...extra,
  };
}

/** Starts the supervisor and lets its first open succeed; resolves with the card it opened. */
async function startPlaying(supervisor: DeviceSupervisor, opens: ControlledOpens): Promise<FakeDevice> {
  const starting = supervisor.start();
  await settle();
  const card = new FakeDevice('card');
  opens.next().resolve(card);
  await starting;
  return card;
}

/** A supervisor with every collaborator in the test's hands, and a log of what it did, in order. */
function harness(t: { teardown(fn: () => unknown): void }, mode: AudioMode, extra: Partial<AudioSettings> = {}, nodes = true) {
  const clock = new ManualClock();
  const opens = new ControlledOpens();
  const sinks = new ControlledOpens<PlaybackFormat>();
  const log: string[] = [];
  const node = { present: nodes, onChange: undefined as ((nodes: string[]) => void) | undefined, watching: false };
  const supervisor = new DeviceSupervisor(settings(mode, extra), pino({ level: 'silent' }), {
    openDevice: opens.open,
    openClockSink: sinks.open,
    nodesAbsentReason: () => (node.present ? undefined : '/snd has no playback node (pcmC*D*p); found nothing'),
    watchNodes: (_dir, onChange) => ({
      start: () => {
        node.onChange = onChange;
        node.watching = true;
      },
      stop: () => {
        node.watching = false;
      },
    }),
    clock,
    // The low end of the jitter: each delay is half its backoff step.
    random: () => 0,
  });
  const summary = (error: ErrorSummary) => `${error.code}/${error.errno}`;
  supervisor.on('lost', (error) => log.push(`lost ${summary(error)}`));
  supervisor.on('open-failed', (error, attempt, retryInMs) => log.push(`open-failed ${summary(error)} attempt ${attempt}, retry in ${retryInMs} ms`));
  supervisor.on('restored', (info, mode) => log.push(`restored ${mode} ${info.pcm}`));
  supervisor.on('lost-for-good', (loss) => log.push(`lost-for-good after ${loss.attempts} attempts`));
  t.teardown(() => supervisor.close());
  /** Nodes appear in the directory, as inotify would tell the watcher. */
  const plug = async () => {
    node.present = true;
    node.onChange?.(['pcmC0D0p']);
    await settle();
  };
  return { supervisor, clock, opens, sinks, log, node, plug };
}

t.test('device mode: "starting" while the open is in flight, then playing on the device', async (t) => {
  const { supervisor, opens, sinks, log, node } = harness(t, 'device');
  let started = false;
  const starting = supervisor.start().then(() => (started = true));
  await settle();
  t.equal(supervisor.state, 'starting');
  t.equal(supervisor.device, undefined, 'no device for streams while the open is in flight');
  t.equal(started, false, 'start() waits for the open');
  const open = opens.next();
  t.match(open.options, { pcm: 'card', rate: 48000, channels: 2, format: 'S16_LE', periodFrames: 1024, periods: 4, underrun: 'silence', idleMs: 5000 });

  const card = new FakeDevice('card');
  open.resolve(card);
  await starting;
  t.equal(supervisor.state, 'playing');
  t.equal(supervisor.mode, 'device');
  t.equal(supervisor.device, card.asDevice);
  t.same(supervisor.openAttempt, { pcm: 'card', attempted: true, opened: true, error: null, info: card.info });
  t.equal(sinks.calls, 0, 'the clock sink is never opened in device mode');
  t.equal(node.watching, true, 'device mode watches for nodes, for a reopen after a loss');
  t.same(log, [], 'a first open is not a restore');
});

t.test('device mode: an open that fails rejects start() with DeviceOpenError, keeping the diagnosis', async (t) => {
  const { supervisor, clock, opens, sinks } = harness(t, 'device');
  const starting = supervisor.start();
  await settle();
  opens.next().reject(EBUSY);
  const error = await starting.then(() => undefined, (e: unknown) => e);
  t.type(error, DeviceOpenError);
  t.equal((error as DeviceOpenError).message, 'cannot open card: cannot open PCM "card": Device or resource busy (E_ALSA_OPEN, errno 16)');
  t.equal((error as DeviceOpenError).nativeError, EBUSY);
  t.same(supervisor.openAttempt, { pcm: 'card', attempted: true, opened: false, error: { code: 'E_ALSA_OPEN', errno: 16, message: 'cannot open PCM "card": Device or resource busy', alsaMessages: [] }, info: null });
  t.equal(supervisor.state, 'starting');
  t.equal(supervisor.device, undefined);
  t.equal(sinks.calls, 0, 'no headless fallback in device mode');
  t.same(clock.pending(), [], 'and no retry: the process exits');
});

t.test('headless mode: the clock sink only, with the configured format and test hooks; no device open, no node watch', async (t) => {
  const { supervisor, opens, sinks, node } = harness(t, 'headless', { clockPpm: -250, clockTimeline: '/run/sink.tl' });
  const starting = supervisor.start();
  await settle();
  const sinkOpen = sinks.next();
  t.same(sinkOpen.options, { rate: 48000, channels: 2, format: 'S16_LE', periodFrames: 1024, periods: 4, underrun: 'silence', idleMs: 5000, duckGain: 0.1, duckRampMs: 50, fadeMs: 20, masterGain: 1, ppm: -250, timeline: '/run/sink.tl' }, 'the card\'s format and gap policy, and the clock hooks, without its PCM name or ALSA text');
  const sink = new FakeDevice('speakerd-clock');
  sinkOpen.resolve(sink);
  await starting;
  t.equal(supervisor.state, 'playing');
  t.equal(supervisor.mode, 'headless');
  t.equal(supervisor.headlessReason, 'AUDIO_MODE=headless');
  t.equal(supervisor.device, sink.asDevice);
  t.same(supervisor.openAttempt, { pcm: 'card', attempted: false, opened: false, error: null, info: null });
  t.equal(opens.calls, 0);
  t.equal(node.watching, false);
});

t.test('auto mode with no playback node: headless with the reason, then the card when nodes appear; the idle clock sink is closed', async (t) => {
  const { supervisor, opens, sinks, log, plug } = harness(t, 'auto', {}, false);
  const starting = supervisor.start();
  await settle();
  t.equal(opens.calls, 0, 'the card is not tried without a node');
  const sink = new FakeDevice('speakerd-clock');
  sinks.next().resolve(sink);
  await starting;
  t.equal(supervisor.mode, 'headless');
  t.equal(supervisor.headlessReason, '/snd has no playback node (pcmC*D*p); found nothing');

  await plug();
  t.equal(opens.calls, 1, 'nodes appearing are worth an attempt at once');
  t.equal(supervisor.device, sink.asDevice, 'the clock sink keeps playing while the card opens');
  const card = new FakeDevice('card');
  opens.next().resolve(card);
  await settle();
  t.same(log, ['restored device card']);
  t.equal(supervisor.mode, 'device');
  t.equal(supervisor.headlessReason, undefined);
  t.equal(supervisor.device, card.asDevice);
  t.equal(sink.closes, 1, 'the clock sink had no stream: closed at once');
});

t.test('auto mode, headless → card: a clock sink with streams playing is closed only once they are done', async (t) => {
  const { supervisor, opens, sinks, plug } = harness(t, 'auto', {}, false);
  const starting = supervisor.start();
  await settle();
  const sink = new FakeDevice('speakerd-clock');
  sink.streams = 1;
  sinks.next().resolve(sink);
  await starting;
  await plug();
  opens.next().resolve(new FakeDevice('card'));
  await settle();
  t.equal(supervisor.mode, 'device');
  t.equal(sink.closes, 0, 'its stream plays out on the clock sink');
  sink.streams = 0;
  sink.emit('idle');
  t.equal(sink.closes, 1, 'closed when its last stream is done');
});

t.test('auto mode with nodes whose open fails: headless at once, then retries with doubling delays until the card opens', async (t) => {
  const { supervisor, clock, opens, sinks, log } = harness(t, 'auto');
  const starting = supervisor.start();
  await settle();
  opens.next().reject(EBUSY);
  await settle();
  const sink = new FakeDevice('speakerd-clock');
  sinks.next().resolve(sink);
  await starting;
  t.equal(supervisor.state, 'playing');
  t.equal(supervisor.mode, 'headless');
  t.equal(supervisor.headlessReason, 'cannot open card: cannot open PCM "card": Device or resource busy (E_ALSA_OPEN, errno 16)');
  t.same(clock.pending(), [250], 'the first retry after half of AUDIO_REOPEN_MIN_MS (jitter at its low end)');

  await clock.advance(249);
  t.equal(opens.waiting, 0, 'not a moment early');
  await clock.advance(1);
  opens.next().reject(EBUSY);
  await settle();
  await clock.advance(500);
  opens.next().reject(EBUSY);
  await settle();
  t.same(log, ['open-failed E_ALSA_OPEN/16 attempt 1, retry in 500 ms', 'open-failed E_ALSA_OPEN/16 attempt 2, retry in 1000 ms']);
  t.same(clock.pending(), [1000]);

  await clock.advance(1000);
  const card = new FakeDevice('card');
  opens.next().resolve(card);
  await settle();
  t.same(log.slice(2), ['restored device card']);
  t.equal(supervisor.device, card.asDevice);
  t.equal(sink.closes, 1);
  t.same(clock.pending(), [], 'no retry left scheduled');
});

t.test('device loss: lost, the dead device closed, reopens back off (doubling, capped), then restored with the loss cleared', async (t) => {
  const { supervisor, clock, opens, log } = harness(t, 'device', { reopenMinMs: 500, reopenMaxMs: 2000 });
  const card = await startPlaying(supervisor, opens);

  card.lose();
  t.same(log, ['lost E_DEVICE_LOST/19']);
  t.equal(supervisor.state, 'lost');
  t.equal(supervisor.device, undefined, 'no device for new streams while lost');
  t.equal(card.closes, 1, 'the dead PCM is closed');
  const since = clock.now();
  t.match(supervisor.loss, { error: { code: 'E_DEVICE_LOST', errno: 19, message: 'PCM "card": mmap_commit failed: No such device' }, attempts: 0, lastAttemptError: null, forGood: false });
  t.equal(supervisor.loss!.since.getTime(), since);
  t.equal(supervisor.loss!.restartAt!.getTime(), since + 60_000, 'restartAt is AUDIO_LOST_RESTART_S after the loss');
  t.equal(supervisor.loss!.nextAttemptAt!.getTime(), since + 250);
  t.same(supervisor.openAttempt.error, { code: 'E_DEVICE_LOST', errno: 19, message: 'PCM "card": mmap_commit failed: No such device', alsaMessages: [] });

  // Refused reopens: 250, 500, 1000, then the 2000 ms cap's half, and again.
  const delays: number[] = [];
  for (let attempt = 1; attempt <= 5; attempt++) {
    const [delay] = clock.pending().filter((ms) => ms < 60_000);
    delays.push(delay!);
    await clock.advance(delay!);
    t.equal(opens.waiting, 1, `attempt ${attempt} opens once`);
    opens.next().reject(ENODEV);
    await settle();
    t.equal(supervisor.loss!.attempts, attempt);
  }
  t.same(delays, [250, 500, 1000, 1000, 1000]);
  t.same(log.slice(1).map((line) => line.replace(/^open-failed E_ALSA_OPEN\/19 /, '')), [
    'attempt 1, retry in 500 ms', 'attempt 2, retry in 1000 ms', 'attempt 3, retry in 1000 ms', 'attempt 4, retry in 1000 ms', 'attempt 5, retry in 1000 ms',
  ]);
  t.same(supervisor.loss!.lastAttemptError, { code: 'E_ALSA_OPEN', errno: 19, message: 'cannot open PCM "card": No such device' });
  t.equal(
    supervisor.openAttempt.error!.message,
    'PCM "card": mmap_commit failed: No such device; reopen attempt 5 failed: cannot open PCM "card": No such device (E_ALSA_OPEN, errno 19)',
    'the loss stays the diagnosis, with the last reopen\'s error',
  );

  await clock.advance(1000);
  const again = new FakeDevice('card');
  opens.next().resolve(again);
  await settle();
  t.same(log.slice(6), ['restored device card']);
  t.equal(supervisor.state, 'playing');
  t.equal(supervisor.device, again.asDevice);
  t.equal(supervisor.loss, undefined);
  t.same(clock.pending(), [], 'the lost-for-good timer is cancelled too');

  // A second loss starts the backoff from the beginning.
  again.lose();
  t.same(clock.pending().filter((ms) => ms < 60_000), [250]);
});

t.test('lost for AUDIO_LOST_RESTART_S without a reopen: lost-for-good, once, and the reopens go on', async (t) => {
  const { supervisor, clock, opens, log } = harness(t, 'device', { lostRestartS: 3, reopenMinMs: 1000, reopenMaxMs: 1000 });
  const card = await startPlaying(supervisor, opens);
  card.lose();
  // Every 500 ms (half of the 1000 ms step) a reopen is refused.
  for (let i = 0; i < 6; i++) {
    await clock.advance(500);
    opens.next().reject(ENODEV);
    await settle();
  }
  t.same(log.filter((line) => line.startsWith('lost-for-good')), ['lost-for-good after 5 attempts'], 'at 3000 ms, between the fifth and sixth refusal');
  t.equal(log.indexOf('lost-for-good after 5 attempts'), 6, 'after five open-failed');
  t.equal(supervisor.loss!.forGood, true);
  t.equal(supervisor.state, 'lost');
  t.same(clock.pending(), [500], 'still trying');
});

t.test('close while the first open is in flight: the device that opens afterwards is closed, not used', async (t) => {
  const { supervisor, opens } = harness(t, 'device');
  const starting = supervisor.start();
  await settle();
  const open = opens.next();
  await supervisor.close();
  t.equal(supervisor.state, 'closed');
  const late = new FakeDevice('card');
  open.resolve(late);
  await starting;
  t.equal(supervisor.state, 'closed');
  t.equal(supervisor.device, undefined);
  t.equal(late.closes, 1, 'nothing is left open');
});

/** A playing card lost, its first reopen (after 250 ms) in flight, and then close(): the reopen, to answer. */
async function closedDuringReopen(t: { teardown(fn: () => unknown): void }) {
  const h = harness(t, 'device');
  const card = await startPlaying(h.supervisor, h.opens);
  card.lose();
  await h.clock.advance(250);
  const reopen = h.opens.next();
  await h.supervisor.close();
  return { ...h, reopen };
}

t.test('close while a reopen is in flight: the device that opens afterwards is closed, no restore, no retry', async (t) => {
  const { clock, opens, log, reopen } = await closedDuringReopen(t);
  const late = new FakeDevice('card');
  reopen.resolve(late);
  await settle();
  t.equal(late.closes, 1);
  t.same(log, ['lost E_DEVICE_LOST/19']);
  t.same(clock.pending(), [], 'no timer left: the retry and the lost-for-good timer are cancelled');
  await clock.advance(120_000);
  t.equal(opens.calls, 2, 'nothing opens after close');
});

t.test('close while a reopen is in flight and then refused: no open-failed, no retry', async (t) => {
  const { clock, opens, log, reopen } = await closedDuringReopen(t);
  reopen.reject(ENODEV);
  await settle();
  t.same(log, ['lost E_DEVICE_LOST/19']);
  t.same(clock.pending(), []);
});

t.test('a reopen stuck in the driver: E_ALSA_OPEN_TIMEOUT, no second open while it is stuck, and the stuck device closed when it returns', async (t) => {
  const { supervisor, clock, opens, log } = harness(t, 'device', { openTimeoutMs: 300 });
  const card = await startPlaying(supervisor, opens);
  card.lose();
  await clock.advance(250);
  const stuck = opens.next();
  await clock.advance(300);
  t.same(log.slice(1), ['open-failed E_ALSA_OPEN_TIMEOUT/110 attempt 1, retry in 500 ms']);
  t.match(supervisor.loss!.lastAttemptError!.message, /^cannot open PCM "card": no answer within AUDIO_OPEN_TIMEOUT_MS=300 ms; the driver is stuck in open\(\)$/);

  await clock.advance(500);
  t.equal(opens.calls, 2, 'the retry waits for the stuck open instead of starting another');
  const late = new FakeDevice('card');
  stuck.resolve(late);
  await settle();
  t.equal(late.closes, 1, 'the stuck open\'s device is closed when it returns');
  t.equal(opens.calls, 3, 'then the waiting retry opens');
  const fresh = new FakeDevice('card');
  opens.next().resolve(fresh);
  await settle();
  t.same(log.slice(2), ['restored device card']);
  t.equal(supervisor.device, fresh.asDevice);
});

t.test('a device that fails after it was replaced is ignored; xruns add up across devices', async (t) => {
  const { supervisor, clock, opens, log } = harness(t, 'device');
  const xruns: number[] = [];
  supervisor.on('xrun', (count) => xruns.push(count));
  const starting = supervisor.start();
  await settle();
  const first = new FakeDevice('card');
  opens.next().resolve(first);
  await starting;
  first.emit('xrun', 1);
  first.emit('xrun', 3);
  first.lose();
  await clock.advance(250);
  const second = new FakeDevice('card');
  opens.next().resolve(second);
  await settle();
  second.emit('xrun', 2);
  t.same(xruns, [1, 3, 2], 'each device reports its own count');
  t.equal(supervisor.xruns, 5, 'the total runs across reopens');
  first.lose();
  t.same(log, ['lost E_DEVICE_LOST/19', 'restored device card'], 'the old device\'s late error changes nothing');
  t.equal(supervisor.state, 'playing');
});

t.test('auto mode: close while falling back to headless after a refused open: the sink is closed and no retry is left', async (t) => {
  const { supervisor, clock, opens, sinks } = harness(t, 'auto');
  const starting = supervisor.start();
  await settle();
  opens.next().reject(EBUSY);
  await settle();
  const sinkOpen = sinks.next();
  await supervisor.close();
  const sink = new FakeDevice('speakerd-clock');
  sinkOpen.resolve(sink);
  await starting;
  t.equal(supervisor.state, 'closed');
  t.equal(sink.closes, 1);
  t.same(clock.pending(), [], 'no retry scheduled after close');
});
