import { type Sample, sampledCounter, sampledGauge } from '@thoth/platform';

/**
 * Per-sink delivery counters and their Prometheus families. A sink's worker counts into plain numbers
 * (SinkCounters, which tests read directly); the families read every running exporter's sinks when the
 * process's `GET /metrics` is scraped (services/platform/src/metrics). Lag is read from the bus at that moment.
 */
export interface SinkCounters {
  delivered: number;
  failed: number;
  retried: number;
  deadLettered: number;
  filtered: number;
  /** 1 while the last delivery attempt succeeded, 0 while the sink is failing. */
  up: number;
}

export function newCounters(): SinkCounters {
  return { delivered: 0, failed: 0, retried: 0, deadLettered: 0, filtered: 0, up: 1 };
}

type SinkLabel = 'sink' | 'type' | 'tenant';

/** One sink as its families see it: its labels and its counters. */
export interface SinkView {
  labels: Record<SinkLabel, string>;
  counters: SinkCounters;
  /** Messages on the events topic its consumer group has not committed; undefined when the bus cannot tell. */
  lag(): Promise<number | undefined>;
}

const LABELS = ['sink', 'type', 'tenant'] as const;

const COUNTER_FAMILIES: Array<{ name: string; help: string; value: (c: SinkCounters) => number }> = [
  {
    name: 'thoth_siem_events_delivered_total',
    help: 'Events the sink acknowledged.',
    value: (c) => c.delivered,
  },
  {
    name: 'thoth_siem_events_failed_total',
    help: 'Events in delivery attempts that failed (each attempt counts).',
    value: (c) => c.failed,
  },
  {
    name: 'thoth_siem_events_retried_total',
    help: 'Events sent again after a failed attempt.',
    value: (c) => c.retried,
  },
  {
    name: 'thoth_siem_events_dead_lettered_total',
    help: 'Events sent to the DLQ (unformattable or refused by the sink).',
    value: (c) => c.deadLettered,
  },
  {
    name: 'thoth_siem_events_filtered_total',
    help: "Events skipped by the sink's tenant and filters.",
    value: (c) => c.filtered,
  },
];

const counters = COUNTER_FAMILIES.map((family) => ({
  ...family,
  sources: sampledCounter({ name: family.name, help: family.help, labelNames: LABELS }).sources,
}));

const sinkUp = sampledGauge({
  name: 'thoth_siem_sink_up',
  help: '1 if the last delivery attempt succeeded, 0 while the sink fails.',
  labelNames: LABELS,
});

const sinkLag = sampledGauge({
  name: 'thoth_siem_consumer_lag_messages',
  help: "Messages on the events topic not yet committed by the sink's consumer group.",
  labelNames: LABELS,
});

/** Adds an exporter's sinks to the SIEM families. Returns the function that removes them (when it stops). */
export function exposeSinks(sinks: readonly SinkView[]): () => void {
  const removers = [
    ...counters.map((family) =>
      family.sources.add(() => sinks.map((s) => ({ labels: s.labels, value: family.value(s.counters) }))),
    ),
    sinkUp.sources.add(() => sinks.map((s) => ({ labels: s.labels, value: s.counters.up }))),
    sinkLag.sources.add(async () => {
      const lags = await Promise.all(
        sinks.map(async (s): Promise<Sample<SinkLabel> | undefined> => {
          const value = await s.lag();
          return value === undefined ? undefined : { labels: s.labels, value };
        }),
      );
      return lags.filter((sample) => sample !== undefined);
    }),
  ];
  return () => {
    for (const remove of removers) remove();
  };
}
