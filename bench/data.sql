-- The benchmark's data set, loaded in bulk into a fresh, migrated database: 2,000 users,
-- 50 categories, 10,000 products (psql variable `products`, a multiple of 10,000: `bench/run
-- --products N`), 5 likes and 2 reviews per product, and 5,000 orders with their lines.
-- The like and review aggregates are filled in by the catalogue's triggers, as for any
-- write. Deterministic (no random()), so every run measures the same data.
--
-- psql variables: products (default 10000), seed_user_id (the user registered over HTTP,
-- whose bcrypt hash every bench user shares, so that any of them can log in with the bench
-- password) and password_hash.
\set ON_ERROR_STOP on
\if :{?products}
\else
\set products 10000
\endif

BEGIN;

-- Bench user n (0..1999); user 0 is the one registered over HTTP.
CREATE TEMPORARY TABLE bench_users (n int PRIMARY KEY, id uuid NOT NULL) ON COMMIT DROP;
INSERT INTO bench_users VALUES (0, :'seed_user_id');
INSERT INTO bench_users
SELECT n, ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid FROM generate_series(1, 1999) n;

INSERT INTO users (id, email, name, password_hash, role, is_active, created_at, updated_at)
SELECT b.id, 'bench-user-' || b.n || '@bench.test', 'Bench User ' || b.n, :'password_hash', 'user', true,
       now() - (b.n % 400) * interval '1 day', now() - (b.n % 400) * interval '1 day'
FROM bench_users b WHERE b.n > 0;

INSERT INTO categories (id, name, slug, created_at)
SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(n), 12, '0'))::uuid, 'Category ' || n, 'category-' || n, now()
FROM generate_series(1, 50) n;

-- Product n (1..products); products 1..1000 have ample stock (the order scenario buys them),
-- the others 0..499 units (one in ten sold out). Owners are the first 100 bench users.
CREATE TEMPORARY TABLE bench_products (n int PRIMARY KEY, id uuid NOT NULL) ON COMMIT DROP;
INSERT INTO bench_products
SELECT n, ('00000000-0000-4000-a000-' || lpad(to_hex(n), 12, '0'))::uuid FROM generate_series(1, :products) n;

INSERT INTO products (id, owner_id, name, description, price_cents, stock, created_at, updated_at)
SELECT p.id,
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + p.n % 100), 12, '0'))::uuid,
       (ARRAY['Kettle','Mug','Teapot','Lamp','Desk','Chair','Notebook','Pencil','Backpack','Blanket'])[1 + p.n % 10]
         || ' ' || (ARRAY['Classic','Deluxe','Mini','Pro','Eco','Travel','Vintage'])[1 + (p.n / 10) % 7] || ' ' || p.n,
       'A ' || (ARRAY['sturdy','light','handmade','durable','colourful'])[1 + p.n % 5]
         || ' item for everyday use, made to last; model ' || md5(p.n::text),
       100 + (p.n * 7919) % 99900,
       CASE WHEN p.n <= 1000 THEN 1000000 WHEN p.n % 10 = 0 THEN 0 ELSE (p.n * 31) % 500 END,
       now() - ((p.n::bigint * 104729) % 525600) * interval '1 minute',
       now() - ((p.n::bigint * 104729) % 525600) * interval '1 minute'
FROM bench_products p;

-- One to three categories per product.
INSERT INTO product_categories (product_id, category_id)
SELECT p.id, ('00000000-0000-4000-9000-' || lpad(to_hex(c.category), 12, '0'))::uuid
FROM bench_products p
CROSS JOIN LATERAL (VALUES (1 + p.n % 50, true), (1 + (p.n * 7 + 3) % 50, p.n % 3 <> 0),
                           (1 + (p.n * 13 + 11) % 50, p.n % 5 = 0)) AS c (category, wanted)
WHERE c.wanted
ON CONFLICT DO NOTHING;

-- 25 likes per user per 10,000 products: 4729 is coprime with 10^k, so distinct k name
-- distinct products.
INSERT INTO likes (user_id, product_id, created_at)
SELECT u.id, p.id, now() - ((u.n * 25 + k) % 1440) * interval '1 minute'
FROM bench_users u
CROSS JOIN generate_series(1, 25 * :products / 10000) k
JOIN bench_products p ON p.n = 1 + (u.n * 7919 + k * 4729) % :products;

-- Up to 11 reviews per user per 10,000 products, on products it neither owns nor likes,
-- 2 per product in all.
INSERT INTO reviews (id, product_id, author_id, rating, body, created_at, updated_at)
SELECT ('00000000-0000-4000-b000-' || lpad(to_hex(row_number() OVER (ORDER BY u.n, k)::int), 12, '0'))::uuid,
       p.id, u.id, 1 + (u.n + k) % 5, 'Bench review ' || k,
       now() - ((u.n * 11 + k) % 1440) * interval '1 minute', now() - ((u.n * 11 + k) % 1440) * interval '1 minute'
FROM bench_users u
CROSS JOIN generate_series(25 * :products / 10000 + 1, 36 * :products / 10000) k
JOIN bench_products p ON p.n = 1 + (u.n * 7919 + k * 4729) % :products
WHERE 1 + p.n % 100 <> u.n
ORDER BY u.n, k
LIMIT 2 * :products;

-- 5,000 orders of one to three lines, over products outside the ample-stock set, in every
-- status; snapshot names and prices from the products, totals from the lines.
CREATE TEMPORARY TABLE bench_lines ON COMMIT DROP AS
SELECT ('00000000-0000-4000-c000-' || lpad(to_hex(j), 12, '0'))::uuid AS order_id,
       l AS line_no, p.id AS product_id, p.name AS product_name, p.price_cents AS unit_price_cents,
       (1 + (j + l) % 3)::bigint AS quantity, p.price_cents * (1 + (j + l) % 3) AS line_total_cents, j
FROM generate_series(1, 5000) j
CROSS JOIN generate_series(1, 3) l
JOIN bench_products bp ON bp.n = 1001 + (j * 31 + l * 977) % 9000
JOIN products p ON p.id = bp.id
WHERE l <= 1 + j % 3;

INSERT INTO orders (id, user_id, status, total_cents, created_at, updated_at)
SELECT l.order_id, u.id,
       (ARRAY['delivered','delivered','delivered','delivered','shipped','paid','paid','pending','pending','cancelled'])[1 + l.j % 10],
       sum(l.line_total_cents),
       now() - (l.j % 2160) * interval '1 hour', now() - (l.j % 2160) * interval '1 hour'
FROM bench_lines l
JOIN bench_users u ON u.n = l.j % 2000
GROUP BY l.order_id, l.j, u.id;

INSERT INTO order_lines (order_id, line_no, product_id, product_name, unit_price_cents, quantity, line_total_cents)
SELECT order_id, line_no, product_id, product_name, unit_price_cents, quantity, line_total_cents FROM bench_lines;

-- The physical-limit reference: pgbench's own single-row tables, next to the application's.
CREATE TABLE bench_inserts (
    id         bigserial PRIMARY KEY,
    aid        integer NOT NULL,
    note       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMIT;

VACUUM ANALYZE;

SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM categories) AS categories,
       (SELECT count(*) FROM products) AS products, (SELECT count(*) FROM likes) AS likes,
       (SELECT count(*) FROM reviews) AS reviews, (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM order_lines) AS order_lines;
