-- The assistant, part two (#19): each product's review summary, with what its freshness
-- and the debounce of its regeneration are judged by; and usage kept per provider and
-- model, so the usage report can cost it by the price table.

CREATE TABLE review_summaries (
    product_id   uuid PRIMARY KEY REFERENCES products ON DELETE CASCADE,
    -- NULL until one was generated.
    summary      text NULL,
    -- The visible reviews' count and mean rating the summary was made from.
    review_count bigint NOT NULL DEFAULT 0,
    rating_avg   double precision NULL,
    generated_at timestamptz NULL,
    provider     text NULL,
    model        text NULL,
    -- A review changed after (or while) the summary was made.
    stale        boolean NOT NULL DEFAULT true,
    -- Bumped by each staleness mark: a generation stores itself stale when it moved on.
    revision     bigint NOT NULL DEFAULT 0,
    -- When the last regeneration was claimed: at most one per product per interval.
    claimed_at   timestamptz NULL
);

-- Usage per provider and model: the rows written before this migration did not say which
-- answered, and are kept as 'unknown' (priced at nothing).
ALTER TABLE ai_usage_daily
    ADD COLUMN provider text NOT NULL DEFAULT 'unknown',
    ADD COLUMN model text NOT NULL DEFAULT 'unknown';
ALTER TABLE ai_usage_daily ALTER COLUMN provider DROP DEFAULT, ALTER COLUMN model DROP DEFAULT;
ALTER TABLE ai_usage_daily DROP CONSTRAINT ai_usage_daily_pkey;
ALTER TABLE ai_usage_daily ADD PRIMARY KEY (user_id, day, provider, model);
-- The report reads a period of days across users.
CREATE INDEX ai_usage_daily_day_idx ON ai_usage_daily (day);
