// The rule that keeps a stream's place, on an injected clock.
import t from 'tap';
import { StreamProgress } from '../../src/engine/stream-progress';

function clocked(options: { idleTimeoutMs: number; wallMs: number; framesPerStep: number }) {
  let now = 1_000_000;
  const progress = new StreamProgress({ ...options, now: () => now });
  return { progress, advance: (ms: number) => (now += ms) };
}

t.test('bytes that bring less than a period do not reset the wait', async (t) => {
  const { progress, advance } = clocked({ idleTimeoutMs: 1000, wallMs: 60_000, framesPerStep: 1024 });
  t.equal(progress.waitBudgetMs(), 1000);
  for (let i = 0; i < 3; i++) {
    advance(300);
    progress.waited(300);
    progress.advanced(100);
  }
  t.equal(progress.waitBudgetMs(), 100, '900 ms waited, 300 frames: still counting');
  progress.advanced(724);
  t.equal(progress.waitBudgetMs(), 1000, 'a whole period: the wait starts again');
  advance(1000);
  progress.waited(1000);
  t.equal(progress.waitBudgetMs(), 0);
  t.equal(progress.stall(), 'idle');
});

t.test('time spent while the ring was full is not the client\'s', async (t) => {
  const { progress, advance } = clocked({ idleTimeoutMs: 1000, wallMs: 60_000, framesPerStep: 1024 });
  advance(5000); // backpressure: not a wait for the client
  t.equal(progress.waitBudgetMs(), 1000);
});

t.test('the wall-clock cap bounds a body that advances too slowly', async (t) => {
  const { progress, advance } = clocked({ idleTimeoutMs: 1000, wallMs: 2500, framesPerStep: 1024 });
  for (let i = 0; i < 2; i++) {
    advance(900);
    progress.waited(900);
    progress.advanced(1024);
  }
  t.equal(progress.waitBudgetMs(), 700, 'the cap is nearer than the idle timeout');
  advance(700);
  progress.waited(700);
  t.equal(progress.waitBudgetMs(), 0);
  t.equal(progress.stall(), 'too_slow');
});

t.test('a wait cut by the wall-clock cap is too slow, even when its timer fired a millisecond early', async (t) => {
  const { progress, advance } = clocked({ idleTimeoutMs: 1000, wallMs: 700, framesPerStep: 1024 });
  t.equal(progress.waitBudgetMs(), 700);
  advance(699);
  progress.waited(699);
  t.equal(progress.stall(), 'too_slow');
});

t.test('a step is a period in the body\'s frames once its rate is known', async (t) => {
  const { progress, advance } = clocked({ idleTimeoutMs: 1000, wallMs: 60_000, framesPerStep: 1024 });
  progress.setFramesPerStep(Math.ceil((1024 * 8000) / 48000)); // 8 kHz into a 48 kHz device: 171 frames
  advance(900);
  progress.waited(900);
  progress.advanced(171);
  t.equal(progress.waitBudgetMs(), 1000);
  progress.setFramesPerStep(0);
  progress.advanced(1);
  t.equal(progress.waitBudgetMs(), 1000, 'a step is at least one frame');
});
