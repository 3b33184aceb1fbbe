// One row of the bench table: what was measured, the figure, the design's
// target (design §8) and whether the figure meets it. Rows without a target
// give context (the peer, the source, the method's own ceiling).

export function row(measure, figure, target, met) {
  return { measure, figure, target: target ?? '', result: met === undefined ? '' : met ? 'met' : 'MISSED' };
}

export const fixed = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : String(value));
