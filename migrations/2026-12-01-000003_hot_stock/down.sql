-- Undoes the HOT-stock migration: the default fill factor and the two indexes on stock.
ALTER TABLE products RESET (fillfactor);
CREATE INDEX products_in_stock_created_at_idx ON products (created_at, id) WHERE stock > 0;
CREATE INDEX products_stock_idx ON products (stock, name COLLATE "C", id);
