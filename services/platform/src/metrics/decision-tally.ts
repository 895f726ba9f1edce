import { Counter, Histogram } from 'prom-client';
import { metricsRegistry } from './metrics-registry.ts';

/** Upper bounds (seconds) of the enforce latency buckets: a decision from memory takes microseconds. */
export const ENFORCE_LATENCY_BUCKETS = [
  0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
  0.05, 0.1,
] as const;

interface ReasonCount {
  count: number;
}

/** Distinct reason codes counted per decision value; the ones after them count as OTHER_REASON. */
export const MAX_REASON_CODES = 128;
export const OTHER_REASON = 'other';

/** One decision value's tally: its latency histogram and its count per reason code. */
export interface DecisionCell {
  readonly decision: string;
  /** Observations per bucket of ENFORCE_LATENCY_BUCKETS (not cumulative); the last one holds those past every bound. */
  readonly buckets: Float64Array;
  count: number;
  sum: number;
  readonly reasons: Map<string, ReasonCount>;
}

/**
 * The enforce path's counts, kept in plain numbers: recording a decision is two map lookups, a bucket search and
 * a few additions — no label strings joined, no objects made (prom-client's own `observe` hashes its labels into
 * a string on every call, ~0.5 µs). The families below turn the tally into Prometheus samples when scraped.
 */
export class DecisionTally {
  private readonly cells = new Map<string, DecisionCell>();

  record(decision: string, reasonCode: string, seconds: number): void {
    let cell = this.cells.get(decision);
    if (cell === undefined) {
      cell = {
        decision,
        buckets: new Float64Array(ENFORCE_LATENCY_BUCKETS.length + 1),
        count: 0,
        sum: 0,
        reasons: new Map(),
      };
      this.cells.set(decision, cell);
    }
    let i = 0;
    while (i < ENFORCE_LATENCY_BUCKETS.length && seconds > ENFORCE_LATENCY_BUCKETS[i]!) i++;
    cell.buckets[i]!++;
    cell.count++;
    cell.sum += seconds;
    // Policies name their own reason codes: past MAX_REASON_CODES per decision a new one is counted as `other`,
    // so a tenant's policy edits cannot grow the series (and this map) without bound.
    const reason = cell.reasons.get(reasonCode) ?? cell.reasons.get(OTHER_REASON);
    if (reason !== undefined) reason.count++;
    else if (cell.reasons.size < MAX_REASON_CODES) cell.reasons.set(reasonCode, { count: 1 });
    else cell.reasons.set(OTHER_REASON, { count: 1 });
  }

  decisions(): IterableIterator<DecisionCell> {
    return this.cells.values();
  }
}

type HistogramJson = Awaited<ReturnType<Histogram<'decision'>['get']>>;

/**
 * A histogram family as prom-client's JSON really is: its typings say `type` is a numeric enum (the library,
 * which does not export it, uses strings) and require a `collect` function, which the objects it builds never
 * carry (they must cross to another thread as a structured clone).
 */
function histogramJson(name: string, help: string, values: HistogramJson['values']): HistogramJson {
  return { name, help, type: 'histogram', values, aggregator: 'sum' } as unknown as HistogramJson;
}

/** The tally's latencies as a Prometheus histogram (`_bucket` cumulative per `le`, `_sum`, `_count`). */
export function latencySamples(tally: DecisionTally, name: string): HistogramJson['values'] {
  const values: HistogramJson['values'] = [];
  for (const cell of tally.decisions()) {
    let cumulative = 0;
    for (let i = 0; i < ENFORCE_LATENCY_BUCKETS.length; i++) {
      cumulative += cell.buckets[i]!;
      const labels = { decision: cell.decision, le: ENFORCE_LATENCY_BUCKETS[i]! };
      values.push({ metricName: `${name}_bucket`, labels, value: cumulative });
    }
    const inf = { decision: cell.decision, le: '+Inf' };
    values.push({ metricName: `${name}_bucket`, labels: inf, value: cell.count });
    values.push({ metricName: `${name}_sum`, labels: { decision: cell.decision }, value: cell.sum });
    values.push({ metricName: `${name}_count`, labels: { decision: cell.decision }, value: cell.count });
  }
  return values;
}

/**
 * A histogram read from a DecisionTally at each scrape: nothing is observed into prom-client itself. The registry
 * renders the text from `getForPromString()` and the JSON (what a thread sends, see thread-metrics.ts) from
 * `get()`; both answer the tally's samples.
 */
class TallyHistogram extends Histogram<'decision'> {
  constructor(
    private readonly tally: DecisionTally,
    private readonly familyName: string,
    private readonly familyHelp: string,
  ) {
    super({
      name: familyName,
      help: familyHelp,
      labelNames: ['decision'],
      buckets: [...ENFORCE_LATENCY_BUCKETS],
      registers: [metricsRegistry],
    });
  }

  override async get(): Promise<HistogramJson> {
    return this.getForPromString();
  }

  async getForPromString(): Promise<HistogramJson> {
    return histogramJson(this.familyName, this.familyHelp, latencySamples(this.tally, this.familyName));
  }
}

/** The decisions of this process's enforce path (routes/enforce-routes.ts records each answer). */
export const decisionTally = new DecisionTally();

export const enforceLatencySeconds = new TallyHistogram(
  decisionTally,
  'thoth_enforce_latency_seconds',
  'Time the enforce path took to decide a tool call (the latency_ms of the answer, before its receipt), by decision.',
);

export const decisionsTotal = new Counter<'decision' | 'reason_code'>({
  name: 'thoth_decisions_total',
  help: 'Enforce decisions answered, by decision and reason code.',
  labelNames: ['decision', 'reason_code'],
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const cell of decisionTally.decisions())
      for (const [reasonCode, reason] of cell.reasons)
        this.inc({ decision: cell.decision, reason_code: reasonCode }, reason.count);
  },
});
