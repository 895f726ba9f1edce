import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * The one Prometheus registry of this thread. Every Thoth family registers here (thoth-metrics.ts); the process's
 * `GET /metrics` (metrics-server.ts) serves it, merged with the consumers' thread's registry where there is one.
 */
export const metricsRegistry = new Registry();

let processMetricsOn = false;

/**
 * prom-client's default process metrics (CPU, memory, event-loop lag, GC, handles), once per process and on the
 * main thread only: their process-wide figures would be counted twice if a thread reported them as well.
 */
export function collectProcessMetrics(): void {
  if (processMetricsOn) return;
  processMetricsOn = true;
  collectDefaultMetrics({ register: metricsRegistry });
}

export interface Sample<L extends string> {
  labels: Record<L, string>;
  value: number;
}

/** Reads the current samples of one live object (a publisher, an exporter, a bus) when scraped. */
export type SampleSource<L extends string> = () => Sample<L>[] | Promise<Sample<L>[]>;

/**
 * The live objects a family reads when scraped. Several instances may run in one process (tests; one API
 * replica and its consumers): their samples are summed per label set. A source that fails is left out of that
 * scrape instead of failing it.
 */
export class SampleSources<L extends string> {
  private readonly sources = new Set<SampleSource<L>>();

  /** Adds a source; the returned function removes it (call it when the object stops). */
  add(source: SampleSource<L>): () => void {
    this.sources.add(source);
    return () => void this.sources.delete(source);
  }

  async read(): Promise<Sample<L>[]> {
    const all = await Promise.all(
      [...this.sources].map(async (source) => {
        try {
          return await source();
        } catch {
          return [];
        }
      }),
    );
    return all.flat();
  }
}

/** A metric's `collect`: its samples are whatever `sources` answer at this scrape. */
function collectFrom<L extends string>(sources: SampleSources<L>) {
  return async function collect(this: {
    reset(): void;
    inc(labels: Partial<Record<L, string | number>>, value: number): void;
  }) {
    const samples = await sources.read();
    this.reset();
    for (const sample of samples) this.inc(sample.labels, sample.value);
  };
}

/** A gauge whose values are read from its sources at each scrape. */
export function sampledGauge<L extends string>(options: {
  name: string;
  help: string;
  labelNames: readonly L[];
}): { gauge: Gauge<L>; sources: SampleSources<L> } {
  const sources = new SampleSources<L>();
  const gauge = new Gauge<L>({
    ...options,
    registers: [metricsRegistry],
    collect: collectFrom(sources),
  });
  return { gauge, sources };
}

/**
 * A counter whose totals are kept by the objects that count (a SIEM sink's counters) and read at each scrape:
 * the counting code stays free of label lookups, and the totals stay readable without a registry.
 */
export function sampledCounter<L extends string>(options: {
  name: string;
  help: string;
  labelNames: readonly L[];
}): { counter: Counter<L>; sources: SampleSources<L> } {
  const sources = new SampleSources<L>();
  const counter = new Counter<L>({
    ...options,
    registers: [metricsRegistry],
    collect: collectFrom(sources),
  });
  return { counter, sources };
}
