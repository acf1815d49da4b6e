-- Undoes the catalogue migration, dependents first; the triggers go with their tables.
DROP TABLE IF EXISTS reviews;
DROP TABLE IF EXISTS likes;
DROP TABLE IF EXISTS product_categories;
DROP TABLE IF EXISTS products;
DROP TABLE IF EXISTS categories;
DROP FUNCTION IF EXISTS reviews_maintain_rating();
DROP FUNCTION IF EXISTS likes_maintain_like_count();
DROP EXTENSION IF EXISTS pg_trgm;
