CREATE INDEX product_categories_category_id_idx ON product_categories (category_id, product_id);
DROP INDEX product_categories_created_at_idx;
DROP INDEX product_categories_price_idx;
DROP INDEX product_categories_name_idx;
DROP INDEX product_categories_likes_idx;
DROP INDEX product_categories_rating_idx;
DROP INDEX product_categories_rating_desc_idx;
DROP TRIGGER product_categories_count_added ON product_categories;
DROP TRIGGER product_categories_count_removed ON product_categories;
DROP FUNCTION product_categories_count_added();
DROP FUNCTION product_categories_count_removed();
DROP TRIGGER products_copy_sort_keys_to_links ON products;
DROP FUNCTION products_copy_sort_keys_to_links();
DROP TRIGGER product_categories_copy_sort_keys ON product_categories;
DROP FUNCTION product_categories_copy_sort_keys();
ALTER TABLE product_categories
    DROP COLUMN created_at, DROP COLUMN price_cents, DROP COLUMN name, DROP COLUMN like_count,
    DROP COLUMN rating_tenths;
ALTER TABLE categories DROP COLUMN product_count;
