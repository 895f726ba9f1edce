-- The audit trail: behavioral events and enforcement decisions of every agent, one row each.
-- Ordered for tenant → agent → time reads; ids that SOC queries filter on have skip indexes.
-- ReplacingMergeTree is a second line of defence only: writers dedup on event_id before inserting,
-- so `count() = uniqExact(event_id)` holds without FINAL.
CREATE TABLE IF NOT EXISTS events (
  tenant_id LowCardinality(String),
  agent_id String,
  occurred_at DateTime64(3, 'UTC'),
  event_id String,
  kind LowCardinality(String),
  event_type LowCardinality(String),
  session_id String,
  user_id String,
  tool_name LowCardinality(String),
  decision LowCardinality(String) DEFAULT '',
  reason_code LowCardinality(String) DEFAULT '',
  risk_score UInt8 DEFAULT 0,
  enforcement_mode LowCardinality(String) DEFAULT '',
  violation_id String DEFAULT '',
  enforcement_trace_id String DEFAULT '',
  content String DEFAULT '',
  payload String DEFAULT '{}',
  ingested_at DateTime64(3, 'UTC'),
  written_at DateTime64(3, 'UTC') DEFAULT now64(3),
  chain_index UInt64 DEFAULT 0,
  previous_hash String DEFAULT '',
  hash String DEFAULT '',
  INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_violation_id violation_id TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_trace_id enforcement_trace_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, agent_id, occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL 365 DAY;
