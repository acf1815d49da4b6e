-- Undoes the orders migration, dependents first.
DROP INDEX IF EXISTS products_stock_idx;
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS order_lines;
DROP TABLE IF EXISTS orders;
