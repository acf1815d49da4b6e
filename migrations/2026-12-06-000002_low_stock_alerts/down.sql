-- Undoes "low stock alerts": every crossing alerts again.
ALTER TABLE products DROP COLUMN IF EXISTS low_stock_alerted_at;
