-- The audit log: one row per administrative change (roles, grants, user accounts),
-- written in the same transaction as the change it records.

CREATE TABLE audit_log (
    id       uuid PRIMARY KEY,
    at       timestamptz NOT NULL,
    -- Deliberately no foreign key: the log is history, and an entry outlives its actor's
    -- account (a self-deletion names the deleted user as actor).
    actor_id uuid NULL,
    action   text NOT NULL,
    target   text NOT NULL,
    details  jsonb NOT NULL DEFAULT '{}'
);

-- The listing order (newest first), alone and behind each filter, so that a filtered
-- page is an index range scan rather than a sort.
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC, id DESC);
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id, at DESC, id DESC);
