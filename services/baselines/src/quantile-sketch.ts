/**
 * A small mergeable quantile sketch (the DDSketch idea): values fall into logarithmic buckets whose bounds
 * grow by `GAMMA`, so any quantile is known within ±2 % of its value whatever the range, in a few dozen
 * buckets. Plain JSON, so it is persisted with the rest of an agent's baseline.
 */
export interface QuantileSketch {
  count: number;
  min: number;
  max: number;
  /** Bucket index → count, for values > 0 (index k holds (GAMMA^(k-1), GAMMA^k]). */
  positive: Record<string, number>;
  /** Same, for the magnitude of values < 0. */
  negative: Record<string, number>;
  zeros: number;
}

const GAMMA = 1.04;
const LOG_GAMMA = Math.log(GAMMA);

export function emptySketch(): QuantileSketch {
  return { count: 0, min: 0, max: 0, positive: {}, negative: {}, zeros: 0 };
}

const bucketOf = (magnitude: number) => String(Math.ceil(Math.log(magnitude) / LOG_GAMMA));
/** The bucket's representative value: the middle of its bounds, relative error ≤ (GAMMA-1)/2. */
const bucketValue = (index: number) => (2 * GAMMA ** index) / (1 + GAMMA);

/** Adds a finite value (others are ignored). Mutates the sketch. */
export function addToSketch(sketch: QuantileSketch, value: number): void {
  if (!Number.isFinite(value)) return;
  sketch.min = sketch.count === 0 ? value : Math.min(sketch.min, value);
  sketch.max = sketch.count === 0 ? value : Math.max(sketch.max, value);
  sketch.count += 1;
  // Values this close to zero are zero for a baseline: it avoids unbounded negative bucket indexes.
  if (Math.abs(value) < 1e-9) sketch.zeros += 1;
  else {
    const side = value > 0 ? sketch.positive : sketch.negative;
    const bucket = bucketOf(Math.abs(value));
    side[bucket] = (side[bucket] ?? 0) + 1;
  }
}

/** The q-quantile (0..1) within the sketch's accuracy, clamped to the exact min and max; NaN when empty. */
export function quantile(sketch: QuantileSketch, q: number): number {
  if (sketch.count === 0) return Number.NaN;
  if (q <= 0) return sketch.min;
  if (q >= 1) return sketch.max;
  const rank = Math.max(1, Math.ceil(q * sketch.count));
  const ordered: Array<[number, number]> = [
    // Negative buckets from the most negative value up, then zeros, then positive ones.
    ...Object.entries(sketch.negative)
      .map(([k, n]): [number, number] => [-bucketValue(Number(k)), n])
      .sort((a, b) => a[0] - b[0]),
    [0, sketch.zeros],
    ...Object.entries(sketch.positive)
      .map(([k, n]): [number, number] => [bucketValue(Number(k)), n])
      .sort((a, b) => a[0] - b[0]),
  ];
  let seen = 0;
  for (const [value, n] of ordered) {
    seen += n;
    if (seen >= rank) return Math.min(sketch.max, Math.max(sketch.min, value));
  }
  return sketch.max;
}
