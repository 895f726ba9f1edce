import { Counter, Histogram } from 'prom-client';
import { metricsRegistry, sampledGauge } from './metrics-registry.ts';

/**
 * Thoth's metric families (docs/metrics.md lists each with its labels and what moves it). The enforce path's
 * two families are in decision-tally.ts, the SIEM exporter's in services/siem-export/src/metrics.ts. Families
 * with a `sources` set are read from live objects when scraped; the others are counted where it happens.
 */

export { decisionsTotal, decisionTally, enforceLatencySeconds } from './decision-tally.ts';

export const rateLimitedTotal = new Counter<'tenant'>({
  name: 'thoth_rate_limited_total',
  help: "Requests refused with 429 because the API key's or its tenant's rate limit was exhausted, by tenant.",
  labelNames: ['tenant'],
  registers: [metricsRegistry],
});

/** Records (events) the API's background publisher holds for the bus: read from each publisher when scraped. */
export const publisherPending = sampledGauge({
  name: 'thoth_publisher_pending_events',
  help: "Events the API's background publisher has queued for the bus and not published yet.",
  labelNames: [],
});

export const publisherDroppedTotal = new Counter({
  name: 'thoth_publisher_dropped_events_total',
  help: "Events the API's background publisher dropped: its queue was full (the bus was away too long), or a record did not encode.",
  registers: [metricsRegistry],
});

/** Each consumer group's lag per partition this process consumes, read from the bus when scraped. */
export const consumerLag = sampledGauge({
  name: 'thoth_consumer_lag_messages',
  help: "Messages on a partition after the consumer group's committed offset (partitions this process consumes).",
  labelNames: ['group', 'topic', 'partition'],
});

export const auditFlushRowsTotal = new Counter({
  name: 'thoth_audit_flush_rows_total',
  help: 'Event rows the audit writer stored (after dedup), summed over its flushes.',
  registers: [metricsRegistry],
});

export const auditFlushDurationSeconds = new Histogram({
  name: 'thoth_audit_flush_duration_seconds',
  help: 'Time one audit-writer flush took to store its rows (the insert into the events table).',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

export const auditFlushFailuresTotal = new Counter({
  name: 'thoth_audit_flush_failures_total',
  help: 'Audit-writer flushes whose insert failed (their batches are delivered again).',
  registers: [metricsRegistry],
});

export const chainCheckpointsTotal = new Counter({
  name: 'thoth_chain_checkpoints_total',
  help: 'Signed evidence-chain checkpoints the audit writer stored (one per tenant written since the last).',
  registers: [metricsRegistry],
});

export const baselinesFindingsTotal = new Counter({
  name: 'thoth_baselines_findings_total',
  help: 'Behavioral findings the baselines consumer recorded.',
  registers: [metricsRegistry],
});

export const baselinesDirectivesTotal = new Counter({
  name: 'thoth_baselines_directives_total',
  help: 'Escalation directives (and their tombstones) the baselines consumer published to the enforce path.',
  registers: [metricsRegistry],
});

/** Holds awaiting an approver, per tenant: read from each API's hold registry when scraped. */
export const approvalsPending = sampledGauge({
  name: 'thoth_approvals_pending',
  help: 'Step-up holds awaiting an approval or a denial, by tenant.',
  labelNames: ['tenant'],
});
