// Two kinds of measurement compared: `rounds` pairs, either on one service,
// alternating from round to round which kind goes first, so that neither
// always runs first (or last) in the service's life; or at once on two
// services, swapping which plays which kind, so that what slows the machine
// for a while (on this VM the host's stalls, which the guest counts as the
// service's CPU time: one 20 s round took 0.3 or 0.8 CPU s for the same
// work) falls on both kinds of the round alike.

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

/** Runs `first(service)` and `second(otherService)` at once, once per round, swapping the two services from round to round; `onRound(round, first, second)` after each. Resolves with both lists. */
export async function concurrentRounds(rounds, services, first, second, onRound = () => {}) {
  const firsts = [];
  const seconds = [];
  for (let round = 0; round < rounds; round++) {
    const [a, b] = round % 2 === 0 ? services : [services[1], services[0]];
    const [one, two] = await Promise.all([first(a), second(b)]);
    firsts.push(one);
    seconds.push(two);
    onRound(round, one, two);
  }
  return [firsts, seconds];
}
