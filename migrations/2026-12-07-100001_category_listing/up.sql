-- A category's page of products in O(page), and its exact total without counting.
--
-- Each link carries a copy of its product's sort keys, so that a category page is one
-- index-ordered range of the link indexes below (category, sort key, product): about as
-- many rows read as the page holds, however large the catalogue or narrow the category.
-- Before, the page walked a products sort index and probed each product's links until
-- enough matched (O(page / the category's share)), and a deep offset sorted every match.
-- Triggers keep the copies right: a new link copies its product's keys, and a change of a
-- product's keys (a rename, a price, a like, a review) is copied to its links.
--
-- The category's product count lives on its row, kept by a trigger on the links, so the
-- total of a category listing is one row read instead of a count of its links.

ALTER TABLE categories ADD COLUMN product_count bigint NOT NULL DEFAULT 0;
UPDATE categories c SET product_count = (SELECT count(*) FROM product_categories pc WHERE pc.category_id = c.id);
ALTER TABLE categories ADD CONSTRAINT categories_product_count_check CHECK (product_count >= 0);

ALTER TABLE product_categories
    ADD COLUMN created_at    timestamptz,
    ADD COLUMN price_cents   bigint,
    ADD COLUMN name          text,
    ADD COLUMN like_count    bigint,
    ADD COLUMN rating_tenths bigint;
UPDATE product_categories pc
SET created_at = p.created_at, price_cents = p.price_cents, name = p.name, like_count = p.like_count,
    rating_tenths = p.rating_tenths
FROM products p WHERE p.id = pc.product_id;
ALTER TABLE product_categories
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN price_cents SET NOT NULL,
    ALTER COLUMN name SET NOT NULL,
    ALTER COLUMN like_count SET NOT NULL;

-- A new link copies its product's sort keys (a link is only ever made to an existing
-- product; were it not, the NOT NULL columns would refuse it).
CREATE FUNCTION product_categories_copy_sort_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT p.created_at, p.price_cents, p.name, p.like_count, p.rating_tenths
    INTO NEW.created_at, NEW.price_cents, NEW.name, NEW.like_count, NEW.rating_tenths
    FROM products p WHERE p.id = NEW.product_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER product_categories_copy_sort_keys
    BEFORE INSERT ON product_categories
    FOR EACH ROW EXECUTE FUNCTION product_categories_copy_sort_keys();

-- A product's changed sort keys go to its links (a stock or description change does not
-- fire it; the generated rating_tenths is computed by the time AFTER triggers run).
CREATE FUNCTION products_copy_sort_keys_to_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE product_categories
    SET price_cents = NEW.price_cents, name = NEW.name, like_count = NEW.like_count,
        rating_tenths = NEW.rating_tenths
    WHERE product_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER products_copy_sort_keys_to_links
    AFTER UPDATE OF name, price_cents, like_count, rating_sum, review_count ON products
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.price_cents IS DISTINCT FROM NEW.price_cents
          OR OLD.like_count IS DISTINCT FROM NEW.like_count OR OLD.rating_sum IS DISTINCT FROM NEW.rating_sum
          OR OLD.review_count IS DISTINCT FROM NEW.review_count)
    EXECUTE FUNCTION products_copy_sort_keys_to_links();

-- Keeps categories.product_count equal to the category's links, cascades included (when
-- the category itself is being deleted its row is already gone and the UPDATE matches
-- nothing). Once per statement, one UPDATE per category the statement touched: a bulk
-- load or a product's several links change each category's row once, not once per link
-- (a row updated thousands of times in one transaction makes every next update slower).
CREATE FUNCTION product_categories_count_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE categories c SET product_count = c.product_count + a.n
    FROM (SELECT category_id, count(*) AS n FROM added GROUP BY category_id) a
    WHERE c.id = a.category_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION product_categories_count_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE categories c SET product_count = c.product_count - r.n
    FROM (SELECT category_id, count(*) AS n FROM removed GROUP BY category_id) r
    WHERE c.id = r.category_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER product_categories_count_added
    AFTER INSERT ON product_categories REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION product_categories_count_added();

CREATE TRIGGER product_categories_count_removed
    AFTER DELETE ON product_categories REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION product_categories_count_removed();

-- One index per sort order within a category, each ending in the product id like the
-- order itself; `(category_id, …)` also serves the cascade when a category is deleted,
-- which the old (category_id, product_id) index did.
CREATE INDEX product_categories_created_at_idx ON product_categories (category_id, created_at, product_id);
CREATE INDEX product_categories_price_idx ON product_categories (category_id, price_cents, product_id);
CREATE INDEX product_categories_name_idx ON product_categories (category_id, name COLLATE "C", product_id);
CREATE INDEX product_categories_likes_idx ON product_categories (category_id, like_count, product_id);
CREATE INDEX product_categories_rating_idx
    ON product_categories (category_id, rating_tenths ASC NULLS LAST, product_id ASC);
CREATE INDEX product_categories_rating_desc_idx
    ON product_categories (category_id, rating_tenths DESC NULLS LAST, product_id DESC);
DROP INDEX product_categories_category_id_idx;
