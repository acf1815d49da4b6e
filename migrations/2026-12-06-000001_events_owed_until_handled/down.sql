-- Undoes "events owed until handled". Unfinished claims go (their events are retried).
DROP INDEX IF EXISTS processed_events_unfinished_idx;
DELETE FROM processed_events WHERE processed_at IS NULL;
ALTER TABLE processed_events DROP CONSTRAINT IF EXISTS processed_events_claim_or_done_check;
ALTER TABLE processed_events DROP COLUMN claimed_until;
ALTER TABLE processed_events ALTER COLUMN processed_at SET NOT NULL;

-- A published event counts as done again.
DROP INDEX IF EXISTS outbox_handled_at_idx;
DROP INDEX IF EXISTS outbox_published_owed_idx;
DROP INDEX IF EXISTS outbox_due_idx;
DROP INDEX IF EXISTS outbox_owed_idx;
-- Handled means done again; what is still owed goes back to unpublished, to be published
-- (and handled) under the old rules.
UPDATE outbox SET published_at = handled_at WHERE handled_at IS NOT NULL;
UPDATE outbox SET published_at = NULL WHERE handled_at IS NULL;
ALTER TABLE outbox DROP COLUMN handled_at;
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE published_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
