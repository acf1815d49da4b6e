-- Each product carries its categories as shown (ids, names and slugs, ordered by name in
-- bytes, then id), kept by triggers, so that a page of products reads them from the rows
-- it already reads: per product, a lateral join to its links and their categories cost a
-- listing page more than the page itself (measured in docs/benchmarks.md).
ALTER TABLE products
    ADD COLUMN category_ids uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN category_names text[] NOT NULL DEFAULT '{}',
    ADD COLUMN category_slugs text[] NOT NULL DEFAULT '{}';

-- Sets the category arrays of the given products from their links, where they differ.
-- The rows are locked in id order first, as orders lock them, so that a category's
-- deletion or rename touching many products cannot deadlock with an order. One product at
-- a time, by primary key: statements with a single id keep their cached generic plan,
-- where one over the whole array was planned again on every call (3 ms, more than the
-- product's creation itself).
CREATE FUNCTION products_refresh_categories(product_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    product uuid;
    shown_ids uuid[];
    shown_names text[];
    shown_slugs text[];
BEGIN
    FOR product IN SELECT id FROM products WHERE id = ANY(product_ids) ORDER BY id FOR UPDATE LOOP
        SELECT COALESCE(array_agg(c.id ORDER BY c.name COLLATE "C", c.id), '{}'),
               COALESCE(array_agg(c.name ORDER BY c.name COLLATE "C", c.id), '{}'),
               COALESCE(array_agg(c.slug ORDER BY c.name COLLATE "C", c.id), '{}')
        INTO shown_ids, shown_names, shown_slugs
        FROM product_categories pc JOIN categories c ON c.id = pc.category_id
        WHERE pc.product_id = product;
        UPDATE products
        SET category_ids = shown_ids, category_names = shown_names, category_slugs = shown_slugs
        WHERE id = product
          AND (category_ids, category_names, category_slugs) IS DISTINCT FROM (shown_ids, shown_names, shown_slugs);
    END LOOP;
END;
$$;

-- The links' statement triggers keep the category counts; now they refresh the products
-- whose arrays miss an added link or still show a removed one. A product's creation
-- writes its arrays with its row, so it has nothing to refresh; a deleted product is gone.
CREATE OR REPLACE FUNCTION product_categories_count_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE categories c SET product_count = c.product_count + a.n
    FROM (SELECT category_id, count(*) AS n FROM added GROUP BY category_id) a
    WHERE c.id = a.category_id;
    PERFORM products_refresh_categories(ARRAY(
        SELECT DISTINCT a.product_id FROM added a JOIN products p ON p.id = a.product_id
        WHERE a.category_id <> ALL(p.category_ids)));
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION product_categories_count_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE categories c SET product_count = c.product_count - r.n
    FROM (SELECT category_id, count(*) AS n FROM removed GROUP BY category_id) r
    WHERE c.id = r.category_id;
    PERFORM products_refresh_categories(ARRAY(
        SELECT DISTINCT r.product_id FROM removed r JOIN products p ON p.id = r.product_id
        WHERE r.category_id = ANY(p.category_ids)));
    RETURN NULL;
END;
$$;

-- A category's new name (which may change its place in the order) or slug reaches its
-- products.
CREATE FUNCTION categories_refresh_products() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM products_refresh_categories(ARRAY(SELECT product_id FROM product_categories WHERE category_id = NEW.id));
    RETURN NULL;
END;
$$;

CREATE TRIGGER categories_refresh_products
    AFTER UPDATE OF name, slug ON categories
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.slug IS DISTINCT FROM NEW.slug)
    EXECUTE FUNCTION categories_refresh_products();

SELECT products_refresh_categories(ARRAY(SELECT id FROM products));
