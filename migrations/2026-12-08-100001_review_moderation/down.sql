-- Undoes "review_moderation": hidden reviews count again, so the aggregates are rebuilt
-- from every review once the trigger counts them all.
DROP TRIGGER reviews_maintain_rating_on_update ON reviews;

CREATE OR REPLACE FUNCTION reviews_maintain_rating() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.product_id = OLD.product_id THEN
        UPDATE products SET rating_sum = rating_sum - OLD.rating + NEW.rating WHERE id = NEW.product_id;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE products SET review_count = review_count - 1, rating_sum = rating_sum - OLD.rating
        WHERE id = OLD.product_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE products SET review_count = review_count + 1, rating_sum = rating_sum + NEW.rating
        WHERE id = NEW.product_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER reviews_maintain_rating_on_update
    AFTER UPDATE OF rating, product_id ON reviews
    FOR EACH ROW
    WHEN (OLD.rating IS DISTINCT FROM NEW.rating OR OLD.product_id IS DISTINCT FROM NEW.product_id)
    EXECUTE FUNCTION reviews_maintain_rating();

UPDATE products p SET review_count = a.n, rating_sum = a.s
FROM (SELECT p2.id, count(r.id) AS n, coalesce(sum(r.rating), 0) AS s
      FROM products p2 LEFT JOIN reviews r ON r.product_id = p2.id
      GROUP BY p2.id) a
WHERE a.id = p.id AND (p.review_count, p.rating_sum) IS DISTINCT FROM (a.n, a.s);

DROP INDEX IF EXISTS reviews_moderation_queue_idx;
ALTER TABLE reviews
    DROP CONSTRAINT IF EXISTS reviews_toxicity_check,
    DROP CONSTRAINT IF EXISTS reviews_moderation_status_check,
    DROP COLUMN IF EXISTS decided_by,
    DROP COLUMN IF EXISTS decided_revision,
    DROP COLUMN IF EXISTS checked_at,
    DROP COLUMN IF EXISTS toxicity,
    DROP COLUMN IF EXISTS moderation_status,
    DROP COLUMN IF EXISTS revision;
