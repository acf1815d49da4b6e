//! The orders' unit of work on PostgreSQL: one transaction on a connection of its own,
//! kept from `begin` to `commit` or `rollback`. It locks and reads, and writes what the
//! application decided; no rule is applied here. The whole unit is bounded by the store's
//! deadline for one call, from `begin`. A unit dropped without its end (an error, a deadline, a cancelled caller)
//! hands back a connection still in its transaction, which the pool closes: the server
//! rolls it back.

use super::idempotency;
use super::rows::{ORDER_LINE_COLUMNS, OrderLineRow, orders_of};
use crate::PgStore;
use crate::error::{self, TxError};
use crate::events::{self, EventColumns};
use crate::pool::Manager;
use crate::prepared::prepared;
use async_trait::async_trait;
use bb8::PooledConnection;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AnsiTransactionManager, RunQueryDsl, TransactionManager};
use std::future::Future;
use storefront_app::StoreError;
use storefront_app::ports::{OrderUnit, StoredResponse};
use storefront_domain::{DomainEvent, Order, OrderId, OrderLine, ProductId, StockedProduct, UserId};
use tokio::time::Instant;
use uuid::Uuid;

const ORDERS_PKEY: &str = "orders_pkey";
const ORDERS_USER_FKEY: &str = "orders_user_id_fkey";

/// The products of `$1` that exist, locked in id order for the rest of the transaction
/// (the sort runs below the locking, so every unit locks shared products in one order).
const LOCK_PRODUCTS: &str = "\
SELECT id, name, price_cents, stock, low_stock_alerted_at FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Takes the stock of every line and writes the order, its lines and its events, in one
/// statement (the foreign keys are checked at its end, once every row is there).
const WRITE_ORDER: &str = "\
WITH events AS (
    INSERT INTO outbox (id, event_type, version, occurred_at, payload, available_at)
    SELECT e.id, e.event_type, e.version, e.occurred_at, e.payload, e.occurred_at
    FROM unnest($11::uuid[], $12::text[], $13::int[], $14::timestamptz[], $15::jsonb[])
        WITH ORDINALITY AS e (id, event_type, version, occurred_at, payload, n)
    ORDER BY e.n
), taken AS (
    UPDATE products p SET stock = p.stock - l.quantity
    FROM unnest($2::uuid[], $3::bigint[]) AS l (product_id, quantity)
    WHERE p.id = l.product_id
    RETURNING p.id
), placed AS (
    INSERT INTO orders (id, user_id, status, total_cents, created_at, updated_at)
    VALUES ($1, $4, $16, $5, $6, $17)
), lines AS (
    INSERT INTO order_lines (order_id, line_no, product_id, product_name, unit_price_cents, quantity, line_total_cents)
    SELECT $1, l.line_no, l.product_id, l.product_name, l.unit_price_cents, l.quantity, l.line_total_cents
    FROM unnest($7::int[], $2::uuid[], $8::text[], $9::bigint[], $3::bigint[], $10::bigint[])
        AS l (line_no, product_id, product_name, unit_price_cents, quantity, line_total_cents)
)
SELECT count(*) AS n FROM taken";

/// The products an order's lines name that still exist, locked in id order.
const LOCK_PRODUCTS_OF_ORDER: &str = "\
SELECT p.id FROM products p
WHERE p.id IN (SELECT product_id FROM order_lines WHERE order_id = $1)
ORDER BY p.id
FOR UPDATE OF p";

/// Records when products (`$1`) last raised `product.stock_low` (`$2`), for those that
/// still exist.
const RECORD_LOW_STOCK_ALERTS: &str = "\
UPDATE products p SET low_stock_alerted_at = a.at
FROM unnest($1::uuid[], $2::timestamptz[]) AS a (product_id, at)
WHERE p.id = a.product_id";

/// Adds quantities (`$2`) back to the products (`$1`) that still exist.
const RESTOCK: &str = "\
UPDATE products p SET stock = p.stock + l.quantity
FROM unnest($1::uuid[], $2::bigint[]) AS l (product_id, quantity)
WHERE p.id = l.product_id";

#[derive(QueryableByName)]
struct LockedProduct {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    price_cents: i64,
    #[diesel(sql_type = BigInt)]
    stock: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    low_stock_alerted_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs one step of a unit, within the unit's deadline.
async fn bounded<T>(
    store: &PgStore,
    deadline: Instant,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let outcome = tokio::time::timeout_at(deadline, op).await.unwrap_or_else(|_| Err(error::deadline_exceeded()));
    store.publish_pool_metrics();
    outcome
}

/// Maps what the order's own constraints say about its insertion.
fn insertion_error(err: DieselError, order: OrderId) -> TxError {
    if let DieselError::DatabaseError(
        DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
        info,
    ) = &err
    {
        match info.constraint_name() {
            Some(ORDERS_PKEY) => return StoreError::Conflict(format!("order {order} already exists")).into(),
            Some(ORDERS_USER_FKEY) => return StoreError::InvalidReference("user_id".into()).into(),
            _ => {}
        }
    }
    TxError::Query(err)
}

/// One open transaction.
pub(super) struct PgOrderUnit {
    store: PgStore,
    conn: PooledConnection<'static, Manager>,
    /// When the whole unit must be over: the store's deadline for one port call, from
    /// `begin`, so that a unit is bounded as a single call is.
    deadline: Instant,
}

impl PgOrderUnit {
    /// A connection of the pool's, in a transaction.
    pub(super) async fn begin(store: &PgStore) -> Result<Self, StoreError> {
        let deadline = Instant::now() + store.deadline;
        bounded(store, deadline, async {
            let mut conn = store.owned_conn().await?;
            AnsiTransactionManager::begin_transaction(&mut **conn).await.map_err(error::from_diesel)?;
            Ok(PgOrderUnit { store: store.clone(), conn, deadline })
        })
        .await
    }
}

#[async_trait]
impl OrderUnit for PgOrderUnit {
    async fn lock_products(&mut self, ids: &[ProductId]) -> Result<Vec<StockedProduct>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        let conn = &mut **self.conn;
        let locked = bounded(&self.store, self.deadline, async {
            let lock = diesel::sql_query(LOCK_PRODUCTS).bind::<Array<SqlUuid>, _>(&ids);
            prepared(lock).load::<LockedProduct>(conn).await.map_err(|e| error::in_unit(e.into()))
        })
        .await?;
        Ok(locked
            .into_iter()
            .map(|p| StockedProduct {
                id: ProductId(p.id),
                name: p.name,
                price_cents: p.price_cents,
                stock: p.stock,
                low_stock_alerted_at: p.low_stock_alerted_at,
            })
            .collect())
    }

    async fn insert_order(&mut self, order: &Order, events: &[DomainEvent]) -> Result<(), StoreError> {
        let events = EventColumns::of(events);
        let items = &order.items;
        let line_nos: Vec<i32> = (1..).take(items.len()).collect();
        let write = diesel::sql_query(WRITE_ORDER)
            .bind::<SqlUuid, _>(order.id.0)
            .bind::<Array<SqlUuid>, _>(items.iter().map(|l| l.product_id.0).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(items.iter().map(|l| l.quantity).collect::<Vec<_>>())
            .bind::<Nullable<SqlUuid>, _>(order.user_id.map(|u| u.as_uuid()))
            .bind::<BigInt, _>(order.total_cents)
            .bind::<Timestamptz, _>(order.created_at)
            .bind::<Array<Integer>, _>(line_nos)
            .bind::<Array<Text>, _>(items.iter().map(|l| l.product_name.as_str()).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(items.iter().map(|l| l.unit_price_cents).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(items.iter().map(|l| l.line_total_cents).collect::<Vec<_>>())
            .bind::<Array<SqlUuid>, _>(events.ids)
            .bind::<Array<Text>, _>(events.types)
            .bind::<Array<Integer>, _>(events.versions)
            .bind::<Array<Timestamptz>, _>(events.times)
            .bind::<Array<Jsonb>, _>(events.payloads)
            .bind::<Text, _>(order.status.as_str())
            .bind::<Timestamptz, _>(order.updated_at);
        let conn = &mut **self.conn;
        let taken = bounded(&self.store, self.deadline, async {
            prepared(write).get_result::<Count>(conn).await.map_err(|e| error::in_unit(insertion_error(e, order.id)))
        })
        .await?;
        if usize::try_from(taken.n).ok() != Some(items.len()) {
            // A line whose product is gone: the unit did not lock it (the application
            // writes only what `lock_products` read), a bug rather than a race.
            return Err(StoreError::Internal(format!("order {} took stock from {} products", order.id, taken.n)));
        }
        Ok(())
    }

    async fn lock_order(&mut self, id: OrderId, with_products: bool) -> Result<Option<Order>, StoreError> {
        let conn = &mut **self.conn;
        let rows = bounded(&self.store, self.deadline, async {
            let attempt = async {
                if with_products {
                    // Products before the order row, as placements and deletions lock them.
                    diesel::sql_query(LOCK_PRODUCTS_OF_ORDER).bind::<SqlUuid, _>(id.0).execute(conn).await?;
                }
                let sql = format!(
                    "SELECT {ORDER_LINE_COLUMNS} FROM orders o JOIN order_lines l ON l.order_id = o.id \
                         WHERE o.id = $1 ORDER BY l.line_no FOR UPDATE OF o"
                );
                diesel::sql_query(sql).bind::<SqlUuid, _>(id.0).load::<OrderLineRow>(conn).await
            };
            attempt.await.map_err(|e| error::in_unit(e.into()))
        })
        .await?;
        Ok(orders_of(rows.into_iter().map(|r| (r.order, Some(r.line))))?.pop())
    }

    async fn update_status(&mut self, order: &Order) -> Result<(), StoreError> {
        let conn = &mut **self.conn;
        bounded(&self.store, self.deadline, async {
            diesel::sql_query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1")
                .bind::<SqlUuid, _>(order.id.0)
                .bind::<Text, _>(order.status.as_str())
                .bind::<Timestamptz, _>(order.updated_at)
                .execute(conn)
                .await
                .map_err(|e| error::in_unit(e.into()))
        })
        .await?;
        Ok(())
    }

    async fn restock(&mut self, lines: &[OrderLine]) -> Result<(), StoreError> {
        let conn = &mut **self.conn;
        bounded(&self.store, self.deadline, async {
            diesel::sql_query(RESTOCK)
                .bind::<Array<SqlUuid>, _>(lines.iter().map(|l| l.product_id.0).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
                .execute(conn)
                .await
                .map_err(|e| error::in_unit(e.into()))
        })
        .await?;
        Ok(())
    }

    async fn append_events(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        let conn = &mut **self.conn;
        bounded(&self.store, self.deadline, async { events::append(conn, events).await.map_err(error::in_unit) }).await
    }

    async fn record_low_stock_alerts(&mut self, alerts: &[(ProductId, DateTime<Utc>)]) -> Result<(), StoreError> {
        let conn = &mut **self.conn;
        bounded(&self.store, self.deadline, async {
            diesel::sql_query(RECORD_LOW_STOCK_ALERTS)
                .bind::<Array<SqlUuid>, _>(alerts.iter().map(|(id, _)| id.0).collect::<Vec<_>>())
                .bind::<Array<Timestamptz>, _>(alerts.iter().map(|(_, at)| *at).collect::<Vec<_>>())
                .execute(conn)
                .await
                .map_err(|e| error::in_unit(e.into()))
        })
        .await?;
        Ok(())
    }

    async fn complete_key(
        &mut self,
        user: UserId,
        key: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let conn = &mut **self.conn;
        bounded(&self.store, self.deadline, async {
            idempotency::complete(conn, user, key, response, now).await.map_err(error::in_unit)
        })
        .await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let conn = &mut **self.conn;
        let committed = bounded(&self.store, self.deadline, async {
            AnsiTransactionManager::commit_transaction(conn).await.map_err(|e| error::in_unit(e.into()))
        })
        .await;
        drop(self);
        committed
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), StoreError> {
        let conn = &mut **self.conn;
        let rolled_back = bounded(&self.store, self.deadline, async {
            AnsiTransactionManager::rollback_transaction(conn).await.map_err(error::from_diesel)
        })
        .await;
        drop(self);
        rolled_back
    }
}
