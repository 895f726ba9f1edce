-- Lets the audit writer ask "anything past this chain head?" cheaply: within an agent's rows (ordered by time)
-- chain_index grows, so a minmax index skips every granule at or below the head it already knows.
ALTER TABLE events ADD INDEX IF NOT EXISTS idx_chain_index chain_index TYPE minmax GRANULARITY 1;
ALTER TABLE events MATERIALIZE INDEX idx_chain_index;
