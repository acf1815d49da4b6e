-- Orders: the order with its computed total, its lines with the product's name and price
-- as they were when it was placed, and the idempotency keys of order placement.
--
-- Orders outlive what they refer to: a deleted buyer leaves its orders with a NULL
-- user_id, and order lines keep no foreign key to products, so that deleting a product
-- changes no order (the snapshot columns say what was sold).

CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    user_id     uuid NULL,
    status      text NOT NULL,
    total_cents bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users ON DELETE SET NULL,
    CONSTRAINT orders_status_check CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
    CONSTRAINT orders_total_cents_check CHECK (total_cents >= 0)
);

-- The listing order (newest first), alone, per buyer and per status, so that a page is an
-- index range scan; the buyer's index also serves the SET NULL when a user is deleted.
CREATE INDEX orders_created_at_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_user_id_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id         uuid NOT NULL,
    -- The line's position in the request, so that lines read back in the order asked for.
    line_no          integer NOT NULL,
    product_id       uuid NOT NULL,
    product_name     text NOT NULL,
    unit_price_cents bigint NOT NULL,
    quantity         bigint NOT NULL,
    line_total_cents bigint NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders ON DELETE CASCADE,
    CONSTRAINT order_lines_product_once_key UNIQUE (order_id, product_id),
    CONSTRAINT order_lines_quantity_check CHECK (quantity BETWEEN 1 AND 1000),
    CONSTRAINT order_lines_unit_price_cents_check CHECK (unit_price_cents >= 0),
    CONSTRAINT order_lines_total_check CHECK (line_total_cents = unit_price_cents * quantity)
);

-- A product's sales (statistics) and whether a user bought it (verified purchases).
CREATE INDEX order_lines_product_id_idx ON order_lines (product_id, order_id);

CREATE TABLE idempotency_keys (
    user_id           uuid NOT NULL,
    key               text NOT NULL,
    -- Identifies the request body the key was first used with.
    fingerprint       text NOT NULL,
    -- When the key was claimed; retention and abandonment count from here and completed_at.
    created_at        timestamptz NOT NULL,
    -- The first response, once its request finished; NULL while it runs.
    completed_at      timestamptz NULL,
    response_status   smallint NULL,
    response_location text NULL,
    response_body     bytea NULL,
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE,
    CONSTRAINT idempotency_keys_response_check CHECK (
        (completed_at IS NULL) = (response_status IS NULL) AND (completed_at IS NULL) = (response_body IS NULL)
    )
);

-- The purge of keys past their retention.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- The statistics' low-stock list (stock at or below a threshold, lowest first, then by name
-- in bytes): an index range scan that stops at its limit.
CREATE INDEX products_stock_idx ON products (stock, name COLLATE "C", id);
