-- Retention counts from when the trail stored a row (written_at), not from the time the event claims
-- (occurred_at): a TTL on a client's time drops, at insert and without an error, every row whose claimed time is
-- already past retention (an agent's backlog, a replay) or beyond DateTime's range (years after 2105), leaving
-- gaps in the evidence chain. Store.applyRetention keeps the number of days current.
ALTER TABLE events MODIFY TTL toDateTime(written_at) + INTERVAL 365 DAY;
