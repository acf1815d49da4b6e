DROP TRIGGER products_count_removed ON products;
DROP TRIGGER products_count_added ON products;
DROP FUNCTION products_count_changed();
DROP TABLE product_count_shards;
