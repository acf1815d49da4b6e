-- Review moderation (#19): every review is approved until its check says otherwise (so
-- the new columns' defaults describe every existing review), the check's toxicity and
-- time, the revision of the text (a verdict is for one revision), and the revision a
-- moderator last decided on and who (kept after that account is deleted, like the audit
-- log's actor: history, not a reference).
ALTER TABLE reviews
    ADD COLUMN revision          bigint NOT NULL DEFAULT 1,
    ADD COLUMN moderation_status text NOT NULL DEFAULT 'approved',
    ADD COLUMN toxicity          double precision NULL,
    ADD COLUMN checked_at        timestamptz NULL,
    ADD COLUMN decided_revision  bigint NULL,
    ADD COLUMN decided_by        uuid NULL,
    ADD CONSTRAINT reviews_moderation_status_check CHECK (moderation_status IN ('approved', 'flagged', 'rejected')),
    ADD CONSTRAINT reviews_toxicity_check CHECK (toxicity BETWEEN 0 AND 1);

-- The moderators' queue: one status, newest first.
CREATE INDEX reviews_moderation_queue_idx ON reviews (moderation_status, created_at DESC, id DESC);

-- Only approved reviews count in products.review_count and rating_sum (hence
-- rating_tenths, which the listing sorts by): a review entering or leaving 'approved'
-- moves the aggregates like an insert or a delete; a change of rating moves them only
-- while it counts.
CREATE OR REPLACE FUNCTION reviews_maintain_rating() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_counts boolean := TG_OP IN ('UPDATE', 'DELETE') AND OLD.moderation_status = 'approved';
    new_counts boolean := TG_OP IN ('UPDATE', 'INSERT') AND NEW.moderation_status = 'approved';
BEGIN
    IF old_counts AND new_counts AND NEW.product_id = OLD.product_id THEN
        IF NEW.rating <> OLD.rating THEN
            UPDATE products SET rating_sum = rating_sum - OLD.rating + NEW.rating WHERE id = NEW.product_id;
        END IF;
        RETURN NULL;
    END IF;
    IF old_counts THEN
        UPDATE products SET review_count = review_count - 1, rating_sum = rating_sum - OLD.rating
        WHERE id = OLD.product_id;
    END IF;
    IF new_counts THEN
        UPDATE products SET review_count = review_count + 1, rating_sum = rating_sum + NEW.rating
        WHERE id = NEW.product_id;
    END IF;
    RETURN NULL;
END;
$$;

-- Still only what moves the aggregates fires it: a new body, a verdict that keeps the
-- review approved, or flagged becoming rejected lock no product row.
DROP TRIGGER reviews_maintain_rating_on_update ON reviews;
CREATE TRIGGER reviews_maintain_rating_on_update
    AFTER UPDATE OF rating, product_id, moderation_status ON reviews
    FOR EACH ROW
    WHEN (OLD.rating IS DISTINCT FROM NEW.rating
          OR OLD.product_id IS DISTINCT FROM NEW.product_id
          OR (OLD.moderation_status = 'approved') IS DISTINCT FROM (NEW.moderation_status = 'approved'))
    EXECUTE FUNCTION reviews_maintain_rating();
