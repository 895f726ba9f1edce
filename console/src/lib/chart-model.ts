/**
 * The agent page's charts as data: calls per rate window against the baseline's usual band, and a numeric
 * argument's distribution from the quantiles the baseline API gives. Pure: tested without a browser.
 */

/** The baseline's usual band: mean ± BAND_SIGMAS standard deviations of calls per window (never below 0). */
export const BAND_SIGMAS = 2;
/** THOTH_BASELINE_RATE_WINDOW_SECONDS's default, for a baseline API that does not name its window. */
export const DEFAULT_RATE_WINDOW_SECONDS = 10;

export interface RateSeries {
  /** Window starts, epoch seconds, ascending, no gaps. */
  x: number[];
  /** Calls in each window; null before the oldest call read (the read was cut short: unknown, not zero). */
  calls: (number | null)[];
  /** The band's edges; null while the baseline has learned no rate window (no band yet). */
  low: (number | null)[];
  high: (number | null)[];
  windowSeconds: number;
  /** Rate windows the baseline has learned (0: no band yet). */
  learnedWindows: number;
  mean: number;
  stddev: number;
}

export function rateBand(mean: number, stddev: number): { low: number; high: number } {
  return { low: Math.max(0, mean - BAND_SIGMAS * stddev), high: mean + BAND_SIGMAS * stddev };
}

/**
 * Calls per window over the `windows` windows ending with the one holding `endMs`. `times`: the calls read
 * (epoch ms); `truncated`: the read stopped at a page limit, so windows before its oldest call are unknown.
 */
export function callRateSeries(
  times: readonly number[],
  band: { mean: number; stddev: number; windows?: number },
  windowSeconds: number,
  endMs: number,
  windows = 60,
  truncated = false,
): RateSeries {
  const windowMs = windowSeconds * 1_000;
  const last = Math.floor(endMs / windowMs);
  const first = last - windows + 1;
  const x = Array.from({ length: windows }, (_, i) => ((first + i) * windowMs) / 1_000);
  const calls: (number | null)[] = new Array<number | null>(windows).fill(0);
  let oldest = Number.POSITIVE_INFINITY;
  for (const t of times) {
    oldest = Math.min(oldest, t);
    const slot = Math.floor(t / windowMs) - first;
    if (slot >= 0 && slot < windows) calls[slot] = (calls[slot] ?? 0) + 1;
  }
  if (truncated && Number.isFinite(oldest)) {
    // The oldest call's window is partial too: only what comes after it is complete.
    const known = Math.floor(oldest / windowMs) - first + 1;
    for (let i = 0; i < Math.min(known, windows); i++) calls[i] = null;
  }
  const { low, high } = rateBand(band.mean, band.stddev);
  const learnedWindows = band.windows ?? 1;
  return {
    x,
    calls,
    low: new Array<number | null>(windows).fill(learnedWindows > 0 ? low : null),
    high: new Array<number | null>(windows).fill(learnedWindows > 0 ? high : null),
    windowSeconds,
    learnedWindows,
    mean: band.mean,
    stddev: band.stddev,
  };
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/\.?0+$/, ''));

/** The rate chart's key figures, for screen readers and as its caption. */
export function rateSummary(s: RateSeries): string {
  const known = s.calls.filter((c): c is number => c !== null);
  const { low, high } = rateBand(s.mean, s.stddev);
  const banded = s.learnedWindows > 0;
  const bandText = !banded
    ? 'no usual band yet (the baseline has learned no rate window)'
    : `usual band ${fmt(low)}–${fmt(high)} calls per ${fmt(s.windowSeconds)} s window (mean ${fmt(s.mean)} ± ${BAND_SIGMAS}σ)`;
  if (known.length === 0 || known.every((c) => c === 0))
    return `No calls in the last ${known.length} windows; ${bandText}.`;
  const latest = known[known.length - 1] ?? 0;
  const peak = Math.max(...known);
  const above = known.filter((c) => c > high).length;
  return (
    `Calls per ${fmt(s.windowSeconds)} s window over the last ${known.length} windows: latest ${latest}, peak ` +
    `${peak}; ${bandText}${banded ? `; ${above} ${above === 1 ? 'window' : 'windows'} above the band` : ''}.`
  );
}

/** A numeric argument's quantiles as the baseline API gives them (`samples: 0` alone when none). */
export interface Quantiles {
  samples: number;
  min?: number;
  p50?: number;
  p90?: number;
  p99?: number;
  max?: number;
}

export const QUANTILE_LABELS = ['min', 'p50', 'p90', 'p99', 'max'] as const;

/** The bars of a distribution chart: one per quantile, in order; empty without samples. */
export function quantileBars(q: Quantiles): { labels: string[]; values: number[] } {
  if (!q.samples) return { labels: [], values: [] };
  const labels: string[] = [];
  const values: number[] = [];
  for (const label of QUANTILE_LABELS) {
    const v = q[label];
    if (typeof v === 'number' && Number.isFinite(v)) {
      labels.push(label === 'p50' ? 'median' : label);
      values.push(v);
    }
  }
  return { labels, values };
}

export function quantileSummary(name: string, q: Quantiles): string {
  if (!q.samples) return `${name}: no samples yet.`;
  const { labels, values } = quantileBars(q);
  return `${name}: ${q.samples} ${q.samples === 1 ? 'sample' : 'samples'}; ${labels.map((l, i) => `${l} ${fmt(values[i] ?? 0)}`).join(', ')}.`;
}

/** `numeric_arguments` of a tool: only entries shaped like quantiles. */
export function numericArguments(value: unknown): [string, Quantiles][] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).filter(
    (e): e is [string, Quantiles] =>
      e[1] !== null && typeof e[1] === 'object' && typeof (e[1] as Quantiles).samples === 'number',
  );
}
