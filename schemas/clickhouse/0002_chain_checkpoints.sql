-- Signed checkpoints of the evidence chain: periodically, a tenant's chain heads (one per agent) signed with
-- Ed25519 by the audit writer (schemas/evidence-chain.md). A later rewrite of history contradicts them.
CREATE TABLE IF NOT EXISTS chain_checkpoints (
  tenant_id LowCardinality(String),
  checkpoint_id String,
  created_at DateTime64(3, 'UTC'),
  heads String,
  signature String,
  key_id String
)
ENGINE = MergeTree
ORDER BY (tenant_id, created_at);
