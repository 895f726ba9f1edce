-- Behavioral baselines (services/baselines, docs/baselines.md).
-- baseline_state: each agent's learned profile and escalation as JSON, saved by the baselines consumer after
-- every batch and before its offsets commit; a restart (or kill -9) resumes from the newest version.
CREATE TABLE IF NOT EXISTS baseline_state (
  tenant_id LowCardinality(String),
  agent_id String,
  version UInt64,
  calls UInt64,
  learning UInt8,
  escalation_level LowCardinality(String) DEFAULT '',
  updated_at DateTime64(3, 'UTC'),
  state String
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, agent_id);

-- findings: every detector finding (learning ones included), for the findings API. Finding ids are
-- deterministic, so a replayed batch writes the same rows again; reads use FINAL.
CREATE TABLE IF NOT EXISTS findings (
  tenant_id LowCardinality(String),
  agent_id String,
  occurred_at DateTime64(3, 'UTC'),
  finding_id String,
  session_id String,
  tool_name LowCardinality(String),
  detector LowCardinality(String),
  score UInt8,
  severity LowCardinality(String),
  explanation String,
  observed String,
  baseline String,
  event_ids Array(String),
  learning UInt8,
  written_at DateTime64(3, 'UTC') DEFAULT now64(3),
  INDEX idx_finding_id finding_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, agent_id, occurred_at, finding_id);
