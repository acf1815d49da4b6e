//! `OrderRepository` on PostgreSQL: the unit of work (`unit`), one database transaction
//! whose locking reads take product rows in id order before order rows (so that no two
//! transactions wait on each other in a cycle, as a user's deletion also locks its
//! catalogue, then the user, then its orders through `ON DELETE SET NULL`); the listing, a
//! page with its lines and total in one statement; the statistics, by aggregate queries in
//! one read-only snapshot.

mod idempotency;
mod rows;
mod unit;

use rows::{ORDER_LINE_COLUMNS, OrderLineRow, PageRow, orders_of};

use crate::error::TxError;
use crate::{PgStore, error};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{
    BusinessStats, LowStockProduct, OrderFilter, OrderRepository, OrderUnit, Page, PageRequest, TopProduct,
};
use storefront_domain::{Order, OrderId, OrderStatus, ProductId, UserId};
use uuid::Uuid;

/// Most products the statistics rank by units sold.
const TOP_PRODUCTS: i64 = 10;
/// Most products the statistics list as low on stock.
const LOW_STOCK_PRODUCTS: i64 = 50;
/// How far back the statistics count a user as new.
const NEW_USER_WINDOW: Duration = Duration::days(7);

/// The statuses whose orders count as sold (`OrderStatus::counts_as_sold`), as SQL.
const SOLD: &str = "('paid', 'shipped', 'delivered')";

/// The order with its lines, if it exists.
async fn load(conn: &mut AsyncPgConnection, id: OrderId) -> Result<Option<Order>, TxError> {
    let sql = format!(
        "SELECT {ORDER_LINE_COLUMNS} FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE o.id = $1 ORDER BY l.line_no"
    );
    let rows = diesel::sql_query(sql).bind::<SqlUuid, _>(id.0).load::<OrderLineRow>(conn).await?;
    Ok(orders_of(rows.into_iter().map(|r| (r.order, Some(r.line))))?.pop())
}

/// The `WHERE` clause of a listing over `orders`; the buyer and the status are bound as
/// `$1` and `$2` (NULL matching everything).
const LISTING_FILTER: &str = "($1::uuid IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)";

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    users_total: i64,
    #[diesel(sql_type = BigInt)]
    users_new_7d: i64,
    #[diesel(sql_type = BigInt)]
    products_total: i64,
    #[diesel(sql_type = BigInt)]
    revenue_cents: i64,
    #[diesel(sql_type = BigInt)]
    units_sold: i64,
}

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct TopProductRow {
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    units_sold: i64,
    #[diesel(sql_type = BigInt)]
    revenue_cents: i64,
}

#[derive(QueryableByName)]
struct LowStockRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    stock: i64,
}

/// The single-valued statistics, each an aggregate; `$1..=$2` is the new-user window.
fn totals_statement() -> String {
    format!(
        "SELECT
            (SELECT count(*) FROM users) AS users_total,
            (SELECT count(*) FROM users WHERE created_at >= $1 AND created_at <= $2) AS users_new_7d,
            (SELECT count(*) FROM products) AS products_total,
            (SELECT COALESCE(sum(total_cents), 0)::bigint FROM orders WHERE status IN {SOLD}) AS revenue_cents,
            (SELECT COALESCE(sum(l.quantity), 0)::bigint
             FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.status IN {SOLD}) AS units_sold"
    )
}

/// The best sellers; a deleted product shows the name of its newest sold line.
fn top_products_statement() -> String {
    format!(
        "WITH sold AS (
            SELECT l.product_id, sum(l.quantity)::bigint AS units_sold, sum(l.line_total_cents)::bigint AS revenue_cents
            FROM order_lines l JOIN orders o ON o.id = l.order_id
            WHERE o.status IN {SOLD}
            GROUP BY l.product_id
            ORDER BY units_sold DESC, revenue_cents DESC, l.product_id
            LIMIT {TOP_PRODUCTS}
        )
        SELECT s.product_id, COALESCE(p.name, latest.product_name) AS name, s.units_sold, s.revenue_cents
        FROM sold s
        LEFT JOIN products p ON p.id = s.product_id
        LEFT JOIN LATERAL (
            SELECT l.product_name FROM order_lines l JOIN orders o ON o.id = l.order_id
            WHERE l.product_id = s.product_id AND o.status IN {SOLD}
            ORDER BY o.created_at DESC, o.id DESC
            LIMIT 1
        ) latest ON p.id IS NULL
        ORDER BY s.units_sold DESC, s.revenue_cents DESC, s.product_id"
    )
}

async fn stats_in(conn: &mut AsyncPgConnection, threshold: i64, now: DateTime<Utc>) -> Result<BusinessStats, TxError> {
    let totals = diesel::sql_query(totals_statement())
        .bind::<Timestamptz, _>(now - NEW_USER_WINDOW)
        .bind::<Timestamptz, _>(now)
        .get_result::<Totals>(conn)
        .await?;
    let counts =
        diesel::sql_query("SELECT status, count(*) AS n FROM orders GROUP BY status").load::<StatusCount>(conn).await?;
    let orders_by_status = OrderStatus::ALL
        .into_iter()
        .map(|status| (status, counts.iter().find(|c| c.status == status.as_str()).map_or(0, |c| c.n)))
        .collect();
    let top_products = diesel::sql_query(top_products_statement())
        .load::<TopProductRow>(conn)
        .await?
        .into_iter()
        .map(|r| TopProduct {
            product_id: ProductId(r.product_id),
            name: r.name,
            units_sold: r.units_sold,
            revenue_cents: r.revenue_cents,
        })
        .collect();
    let low_stock = diesel::sql_query(format!(
        "SELECT id, name, stock FROM products WHERE stock <= $1 ORDER BY stock, name COLLATE \"C\", id \
         LIMIT {LOW_STOCK_PRODUCTS}"
    ))
    .bind::<BigInt, _>(threshold)
    .load::<LowStockRow>(conn)
    .await?
    .into_iter()
    .map(|r| LowStockProduct { product_id: ProductId(r.id), name: r.name, stock: r.stock })
    .collect();
    Ok(BusinessStats {
        users_total: totals.users_total,
        users_new_7d: totals.users_new_7d,
        products_total: totals.products_total,
        orders_by_status,
        revenue_cents: totals.revenue_cents,
        units_sold: totals.units_sold,
        top_products,
        low_stock,
    })
}

#[async_trait]
impl OrderRepository for PgStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn begin(&self) -> Result<Box<dyn OrderUnit>, StoreError> {
        Ok(Box::new(unit::PgOrderUnit::begin(self).await?))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            load(&mut conn, id).await.map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list(&self, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let (limit, offset) = crate::catalog::limit_offset(page);
            // The total left-joined with the page and its lines: one statement, one snapshot.
            let sql = format!(
                "SELECT t.total, {ORDER_LINE_COLUMNS}
                 FROM (SELECT count(*) AS total FROM orders WHERE {LISTING_FILTER}) t
                 LEFT JOIN (SELECT * FROM orders WHERE {LISTING_FILTER}
                            ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4) o ON true
                 LEFT JOIN order_lines l ON l.order_id = o.id
                 ORDER BY o.created_at DESC, o.id DESC, l.line_no"
            );
            let rows = diesel::sql_query(sql)
                .bind::<Nullable<SqlUuid>, _>(filter.user_id.map(|u| u.as_uuid()))
                .bind::<Nullable<Text>, _>(filter.status.map(OrderStatus::as_str))
                .bind::<BigInt, _>(limit)
                .bind::<BigInt, _>(offset)
                .load::<PageRow>(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            let total = <[_]>::first(&rows).map_or(0, |row: &PageRow| row.total);
            let items = orders_of(rows.into_iter().filter_map(|row| row.order.map(|order| (order, row.line))))?;
            Ok(Page { items, total: crate::catalog::count(total, "total")? })
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn has_bought(&self, user: UserId, product: ProductId) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let sql = "SELECT EXISTS (
                SELECT 1 FROM order_lines l JOIN orders o ON o.id = l.order_id
                WHERE l.product_id = $2 AND o.user_id = $1 AND o.status <> 'cancelled'
            ) AS exists";
            let found = diesel::sql_query(sql)
                .bind::<SqlUuid, _>(user.as_uuid())
                .bind::<SqlUuid, _>(product.0)
                .get_result::<Exists>(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(found.exists)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn stats(&self, low_stock_threshold: i64, now: DateTime<Utc>) -> Result<BusinessStats, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            // One snapshot for every figure, so that they agree with each other.
            conn.build_transaction()
                .read_only()
                .repeatable_read()
                .run::<_, TxError, _>(async |conn| stats_in(conn, low_stock_threshold, now).await)
                .await
                .map_err(StoreError::from)
        })
        .await
    }
}
