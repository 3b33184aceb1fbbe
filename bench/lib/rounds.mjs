// Two kinds of measurement compared on one service: `rounds` pairs,
// alternating from round to round which kind goes first, so that neither
// always runs first (or last) in the service's life.

/** Runs `first()` and `second()` once per round, in alternating order; `onRound(round, first, second)` after each. Resolves with both lists. */
export async function alternatingRounds(rounds, first, second, onRound = () => {}) {
  const firsts = [];
  const seconds = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      firsts.push(await first());
      seconds.push(await second());
    } else {
      seconds.push(await second());
      firsts.push(await first());
    }
    onRound(round, firsts.at(-1), seconds.at(-1));
  }
  return [firsts, seconds];
}
