-- Undoes "review summaries, usage by provider": the summaries, and usage folded back to
-- one row per user and day.
DROP TABLE IF EXISTS review_summaries;
DROP INDEX IF EXISTS ai_usage_daily_day_idx;
CREATE TEMPORARY TABLE ai_usage_folded AS
    SELECT user_id, day, sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens,
           sum(completion_tokens)::bigint AS completion_tokens
    FROM ai_usage_daily GROUP BY user_id, day;
DELETE FROM ai_usage_daily;
ALTER TABLE ai_usage_daily DROP CONSTRAINT ai_usage_daily_pkey;
ALTER TABLE ai_usage_daily DROP COLUMN provider, DROP COLUMN model;
ALTER TABLE ai_usage_daily ADD PRIMARY KEY (user_id, day);
INSERT INTO ai_usage_daily (user_id, day, requests, prompt_tokens, completion_tokens)
    SELECT user_id, day, requests, prompt_tokens, completion_tokens FROM ai_usage_folded;
DROP TABLE ai_usage_folded;
