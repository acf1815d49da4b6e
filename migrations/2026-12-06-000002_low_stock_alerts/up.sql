-- When each product last raised `product.stock_low`. The application raises the event only
-- for a product never alerted or last alerted a whole window ago
-- (`catalog.low_stock_alert_window_secs`), and records the time in the transaction that
-- writes the event, under the lock the stock change already holds on the row. Without it,
-- anyone able to move a product's stock across the threshold in a loop (its owner, orders
-- and their cancellations) mails every alert recipient on every crossing.
--
-- Not indexed: it is only read from the locked row, and an unindexed column keeps the
-- placements' stock updates HOT (see 2026-12-01-000003_hot_stock).
ALTER TABLE products ADD COLUMN low_stock_alerted_at timestamptz NULL;
