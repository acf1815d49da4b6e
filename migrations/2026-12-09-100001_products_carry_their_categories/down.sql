DROP TRIGGER categories_refresh_products ON categories;
DROP FUNCTION categories_refresh_products();

CREATE OR REPLACE FUNCTION product_categories_count_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE categories c SET product_count = c.product_count + a.n
    FROM (SELECT category_id, count(*) AS n FROM added GROUP BY category_id) a
    WHERE c.id = a.category_id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION product_categories_count_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE categories c SET product_count = c.product_count - r.n
    FROM (SELECT category_id, count(*) AS n FROM removed GROUP BY category_id) r
    WHERE c.id = r.category_id;
    RETURN NULL;
END;
$$;

DROP FUNCTION products_refresh_categories(uuid[]);

ALTER TABLE products DROP COLUMN category_ids, DROP COLUMN category_names, DROP COLUMN category_slugs;
