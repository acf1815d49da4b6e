-- An event is owed until its handlers have finished it, not merely until it was appended
-- to a stream: a stream may lose what it holds (Redis restarted without persistence, a
-- failover, a flush, an eviction), and PostgreSQL is the source of truth. `published_at`
-- now only says when the event last went to the stream; `handled_at` settles it.
ALTER TABLE outbox ADD COLUMN handled_at timestamptz NULL;

-- Before this, a published event counted as done: keep it that way for the rows written
-- until now.
UPDATE outbox SET handled_at = published_at WHERE published_at IS NOT NULL;

DROP INDEX outbox_pending_idx;
DROP INDEX outbox_published_at_idx;
-- What relays and dispatchers look for: the owed events, oldest first.
CREATE INDEX outbox_owed_idx ON outbox (seq) WHERE handled_at IS NULL AND dead_at IS NULL;
-- The owed events that are due: while the workers work through a backlog, most owed events
-- are published and not due for minutes, and a relay looking for the few that are due
-- should not walk past all of them (the planner picks this or the one above).
CREATE INDEX outbox_due_idx ON outbox (available_at) WHERE handled_at IS NULL AND dead_at IS NULL;
-- Making every published, owed event due again when the stream lost its data.
CREATE INDEX outbox_published_owed_idx ON outbox (seq)
    WHERE published_at IS NOT NULL AND handled_at IS NULL AND dead_at IS NULL;
-- The purge of handled events.
CREATE INDEX outbox_handled_at_idx ON outbox (handled_at) WHERE handled_at IS NOT NULL;

-- A handler claims an event durably before its effect (a mail), so that two workers handed
-- the same event at once (a redelivery, a takeover) never both send: a row with
-- `claimed_until` and no `processed_at` is a live claim until then.
ALTER TABLE processed_events ALTER COLUMN processed_at DROP NOT NULL;
ALTER TABLE processed_events ADD COLUMN claimed_until timestamptz NULL;
ALTER TABLE processed_events ADD CONSTRAINT processed_events_claim_or_done_check
    CHECK (processed_at IS NOT NULL OR claimed_until IS NOT NULL);
-- The purge of claims whose holder died before finishing.
CREATE INDEX processed_events_unfinished_idx ON processed_events (claimed_until) WHERE processed_at IS NULL;
