-- Domain events: the transactional outbox every state change writes its events to (in the
-- change's own transaction), and the record of which handler handled which event.

CREATE TABLE outbox (
    -- The order events were written in, which the relay publishes them in.
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           uuid NOT NULL,
    event_type   text NOT NULL,
    version      integer NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    -- Failed in-process handlings so far (the stream keeps its own count).
    attempts     integer NOT NULL DEFAULT 0,
    -- Not handed out before this: a relay's lease, or a retry's backoff.
    available_at timestamptz NOT NULL,
    last_error   text NULL,
    -- Appended to the stream, or handled in-process.
    published_at timestamptz NULL,
    -- Failed for good in-process (a dead letter).
    dead_at      timestamptz NULL,
    CONSTRAINT outbox_id_key UNIQUE (id),
    CONSTRAINT outbox_attempts_check CHECK (attempts >= 0)
);

-- What relays look for: the pending events, oldest first.
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE published_at IS NULL AND dead_at IS NULL;
-- The dead letters, newest first.
CREATE INDEX outbox_dead_idx ON outbox (dead_at DESC, id DESC) WHERE dead_at IS NOT NULL;
-- The purge of published events.
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE processed_events (
    handler      text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (handler, event_id)
);

CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);
