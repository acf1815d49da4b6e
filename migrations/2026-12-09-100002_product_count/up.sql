-- The number of products, kept by statement triggers, so that the unfiltered listing's
-- exact total is not a count of every product (O(products) per page). Sixteen rows, each
-- session adding to the one its backend's pid picks: concurrent creations then rarely wait
-- on one another's row lock (a single counter row would serialise every creation until
-- its commit). The total is their sum, which every snapshot sees consistently with the
-- products themselves.
CREATE TABLE product_count_shards (
    shard smallint PRIMARY KEY CHECK (shard BETWEEN 0 AND 15),
    products bigint NOT NULL
);

INSERT INTO product_count_shards (shard, products)
SELECT s, CASE WHEN s = 0 THEN (SELECT count(*) FROM products) ELSE 0 END FROM generate_series(0, 15) s;

CREATE FUNCTION products_count_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM changed;
    ELSE
        SELECT -count(*) INTO delta FROM changed;
    END IF;
    IF delta <> 0 THEN
        UPDATE product_count_shards SET products = products + delta WHERE shard = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER products_count_added
    AFTER INSERT ON products REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION products_count_changed();

CREATE TRIGGER products_count_removed
    AFTER DELETE ON products REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION products_count_changed();
