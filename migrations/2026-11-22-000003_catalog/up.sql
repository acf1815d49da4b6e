-- The catalogue: categories, products (with their like and review aggregates), the links
-- between them, likes and reviews. The aggregates live on the product row, kept right by
-- triggers, so that the listing can filter, sort and page on them through indexes.

-- Trigram indexes serve the listing's case-insensitive substring search (`?q=`).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE categories (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    slug       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_slug_key UNIQUE (slug)
);

-- The listing order: by bytes, as the code compares names, then id.
CREATE INDEX categories_name_idx ON categories (name COLLATE "C", id);

CREATE TABLE products (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    price_cents   bigint NOT NULL,
    stock         bigint NOT NULL,
    -- Maintained by the triggers on `likes` and `reviews` below, never written directly.
    like_count    bigint NOT NULL DEFAULT 0,
    review_count  bigint NOT NULL DEFAULT 0,
    rating_sum    bigint NOT NULL DEFAULT 0,
    -- The mean rating in tenths, rounded half up exactly as
    -- storefront_domain::rating_average does; stored so that it can be indexed and sorted.
    rating_tenths bigint GENERATED ALWAYS AS (
        CASE WHEN review_count > 0 THEN (20 * rating_sum + review_count) / (2 * review_count) END
    ) STORED,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT products_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users ON DELETE CASCADE,
    CONSTRAINT products_price_cents_check CHECK (price_cents BETWEEN 0 AND 100000000),
    CONSTRAINT products_stock_check CHECK (stock >= 0),
    -- A negative aggregate can only come from a trigger bug: fail loudly rather than show it.
    CONSTRAINT products_aggregates_check CHECK (like_count >= 0 AND review_count >= 0 AND rating_sum >= 0)
);

-- One index per sort order, each ending in id like the order itself, so that a page is
-- an index scan that stops at LIMIT rather than a sort of every match.
CREATE INDEX products_created_at_idx ON products (created_at, id);
CREATE INDEX products_price_idx ON products (price_cents, id);
CREATE INDEX products_name_idx ON products (name COLLATE "C", id);
CREATE INDEX products_likes_idx ON products (like_count, id);
-- Unrated products sort last both ways, so each direction needs its own NULLS placement.
CREATE INDEX products_rating_idx ON products (rating_tenths ASC NULLS LAST, id ASC);
CREATE INDEX products_rating_desc_idx ON products (rating_tenths DESC NULLS LAST, id DESC);
-- The owner filter, and the cascade when a user is deleted.
CREATE INDEX products_owner_id_idx ON products (owner_id, created_at, id);
-- `?in_stock=true` under the default order.
CREATE INDEX products_in_stock_created_at_idx ON products (created_at, id) WHERE stock > 0;
-- `?q=`: lower(name) LIKE lower(pattern) with the pattern's wildcards escaped.
CREATE INDEX products_name_trgm_idx ON products USING gin (lower(name) gin_trgm_ops);
CREATE INDEX products_description_trgm_idx ON products USING gin (lower(description) gin_trgm_ops);

CREATE TABLE product_categories (
    product_id  uuid NOT NULL,
    category_id uuid NOT NULL,
    PRIMARY KEY (product_id, category_id),
    CONSTRAINT product_categories_product_id_fkey FOREIGN KEY (product_id) REFERENCES products ON DELETE CASCADE,
    CONSTRAINT product_categories_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories ON DELETE CASCADE
);

-- The category filter and product counts, and the cascade when a category is deleted.
CREATE INDEX product_categories_category_id_idx ON product_categories (category_id, product_id);

CREATE TABLE likes (
    user_id    uuid NOT NULL,
    product_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, product_id),
    CONSTRAINT likes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE,
    CONSTRAINT likes_product_id_fkey FOREIGN KEY (product_id) REFERENCES products ON DELETE CASCADE
);

-- The cascade when a product is deleted.
CREATE INDEX likes_product_id_idx ON likes (product_id);
-- A user's liked products, most recently liked first.
CREATE INDEX likes_user_id_created_at_idx ON likes (user_id, created_at DESC, product_id DESC);

CREATE TABLE reviews (
    id         uuid PRIMARY KEY,
    product_id uuid NOT NULL,
    author_id  uuid NOT NULL,
    rating     smallint NOT NULL,
    body       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT reviews_product_id_fkey FOREIGN KEY (product_id) REFERENCES products ON DELETE CASCADE,
    CONSTRAINT reviews_author_id_fkey FOREIGN KEY (author_id) REFERENCES users ON DELETE CASCADE,
    CONSTRAINT reviews_rating_check CHECK (rating BETWEEN 1 AND 5),
    -- One review per author and product, whatever the concurrency (also the author's
    -- index, for the cascade when a user is deleted).
    CONSTRAINT reviews_author_id_product_id_key UNIQUE (author_id, product_id)
);

-- A product's reviews, newest first.
CREATE INDEX reviews_product_id_created_at_idx ON reviews (product_id, created_at DESC, id DESC);

-- Keeps products.like_count equal to the product's likes. Runs for every way a like goes,
-- cascades included: a deleted user's likes on other people's products. When the product
-- itself is being deleted (the cascade from products), its row is already gone and the
-- UPDATE matches nothing.
CREATE FUNCTION likes_maintain_like_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE products SET like_count = like_count + 1 WHERE id = NEW.product_id;
    ELSE
        UPDATE products SET like_count = like_count - 1 WHERE id = OLD.product_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER likes_maintain_like_count
    AFTER INSERT OR DELETE ON likes
    FOR EACH ROW EXECUTE FUNCTION likes_maintain_like_count();

-- Keeps products.review_count and rating_sum (hence rating_tenths) equal to the product's
-- reviews, on the same terms as the like count.
CREATE FUNCTION reviews_maintain_rating() RETURNS trigger
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

CREATE TRIGGER reviews_maintain_rating
    AFTER INSERT OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_maintain_rating();

-- Only a changed rating (or product) moves the aggregates: a new body locks nothing.
CREATE TRIGGER reviews_maintain_rating_on_update
    AFTER UPDATE OF rating, product_id ON reviews
    FOR EACH ROW
    WHEN (OLD.rating IS DISTINCT FROM NEW.rating OR OLD.product_id IS DISTINCT FROM NEW.product_id)
    EXECUTE FUNCTION reviews_maintain_rating();
