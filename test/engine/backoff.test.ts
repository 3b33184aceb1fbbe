import t from 'tap';
import { backoffDelay } from '../../src/engine/backoff';

const limits = { minMs: 500, maxMs: 30_000 };

t.test('the delay doubles from the minimum, jittered within the upper half of each step', async (t) => {
  const steps = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
  steps.forEach((step, index) => {
    t.equal(backoffDelay(index + 1, limits, () => 0), step / 2, `attempt ${index + 1}: at least half of ${step} ms`);
    t.equal(backoffDelay(index + 1, limits, () => 0.999_999), step, `attempt ${index + 1}: at most ${step} ms`);
  });
});

t.test('the cap holds for any attempt count, and odd input does not escape the limits', async (t) => {
  for (const attempt of [40, 1000, Number.MAX_SAFE_INTEGER]) {
    const delay = backoffDelay(attempt, limits);
    t.ok(delay >= 15_000 && delay <= 30_000, `attempt ${attempt}: ${delay} ms`);
  }
  t.equal(backoffDelay(0, limits, () => 0), 250, 'attempt 0 counts as the first');
  t.equal(backoffDelay(-3, limits, () => 0), 250);
});

t.test('jitter spreads pods that lost the same card', async (t) => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3, limits)));
  t.ok(delays.size > 25, `${delays.size} distinct delays out of 50`);
});
