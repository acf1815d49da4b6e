//! Persistence of orders: the unit of work placements, moves and idempotency keys' outcomes
//! are written in, the reads, the business statistics, and idempotency keys' claims.

use super::{Page, PageRequest};
use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefront_domain::{
    DomainEvent, Order, OrderId, OrderLine, OrderRequest, OrderStatus, ProductId, StockedProduct, UserId,
};

/// An order to place.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: OrderId,
    pub user_id: UserId,
    pub request: OrderRequest,
    pub created_at: DateTime<Utc>,
}

/// Filters of the order listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderFilter {
    /// Only this buyer's orders; `None` lists everyone's.
    pub user_id: Option<UserId>,
    pub status: Option<OrderStatus>,
}

/// The result of asking for a status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    Moved(Order),
    /// The order's current status does not allow the move.
    Refused {
        current: OrderStatus,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopProduct {
    pub product_id: ProductId,
    pub name: String,
    pub units_sold: i64,
    pub revenue_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStockProduct {
    pub product_id: ProductId,
    pub name: String,
    pub stock: i64,
}

/// The administration view of the business, computed by the store with aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessStats {
    pub users_total: i64,
    pub users_new_7d: i64,
    pub products_total: i64,
    /// Every status, zero included.
    pub orders_by_status: Vec<(OrderStatus, i64)>,
    /// Sum of `paid`, `shipped` and `delivered` orders.
    pub revenue_cents: i64,
    pub units_sold: i64,
    /// At most 10, by units sold, then revenue, descending, then product id.
    pub top_products: Vec<TopProduct>,
    /// Products with `stock <= threshold`, lowest first then by name (byte order), at most 50.
    pub low_stock: Vec<LowStockProduct>,
}

/// The boundary of one unit of work on orders: everything written through it commits
/// together or not at all.
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Opens a unit of work (one database transaction). The service locks and reads
    /// through it, applies the domain rules to what it read, writes through it and ends it
    /// with `OrderUnit::commit` or `OrderUnit::rollback`; a unit dropped without either
    /// writes nothing.
    async fn begin(&self) -> Result<Box<dyn OrderUnit>, StoreError>;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError>;

    /// Orders matching the filter, newest first (created_at, then id, descending).
    async fn list(&self, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>, StoreError>;

    /// Whether the user has a non-cancelled order of the product (a verified purchase).
    async fn has_bought(&self, user: UserId, product: ProductId) -> Result<bool, StoreError>;

    /// The business statistics, by aggregate queries.
    async fn stats(&self, low_stock_threshold: i64, now: DateTime<Utc>) -> Result<BusinessStats, StoreError>;
}

/// One open unit of work: locking reads and storage, no rules. Locks are taken products
/// first (in id order), then orders, and held until the unit ends, so that concurrent
/// units never wait on each other in a cycle; a read after a lock sees every write
/// committed before it.
///
/// # Errors
/// Any method MAY return `Aborted` when the store gave up on the unit for a reason that
/// says nothing about its content (a deadlock it broke, a serialisation failure): the
/// caller runs the whole unit, rules included, again. After any error the unit is only
/// good for dropping.
#[async_trait]
pub trait OrderUnit: Send {
    /// Locks the products of `ids` that exist, in id order, and reads them (with when each
    /// last raised `product.stock_low`).
    async fn lock_products(&mut self, ids: &[ProductId]) -> Result<Vec<StockedProduct>, StoreError>;

    /// Writes a new order with its lines, takes every line's quantity from its product's
    /// stock (the products are locked by `lock_products` in this unit), and writes the
    /// order's events to the outbox.
    ///
    /// # Errors
    /// MUST return `Conflict` when an order with this id exists and
    /// `InvalidReference("user_id")` for an unknown buyer.
    async fn insert_order(&mut self, order: &Order, events: &[DomainEvent]) -> Result<(), StoreError>;

    /// Locks the order (after the products of its lines that still exist, when
    /// `with_products`) and reads it; `None` for an unknown order.
    async fn lock_order(&mut self, id: OrderId, with_products: bool) -> Result<Option<Order>, StoreError>;

    /// Stores the order's status and `updated_at` (it is locked by `lock_order`).
    async fn update_status(&mut self, order: &Order) -> Result<(), StoreError>;

    /// Adds every line's quantity back to its product's stock, for the products that still
    /// exist (locked by `lock_order` with `with_products`).
    async fn restock(&mut self, lines: &[OrderLine]) -> Result<(), StoreError>;

    /// Writes events to the outbox, in order.
    async fn append_events(&mut self, events: &[DomainEvent]) -> Result<(), StoreError>;

    /// Records when each product (locked by `lock_products` in this unit) last raised
    /// `product.stock_low`; products that no longer exist are skipped.
    async fn record_low_stock_alerts(&mut self, alerts: &[(ProductId, DateTime<Utc>)]) -> Result<(), StoreError>;

    /// Stores the first response of the idempotency key `(user, key)`, claimed by
    /// `IdempotencyStore::begin`, so that it is replayed from now on: with the writes of
    /// this unit, or not at all. A claim that is gone (purged, its user deleted) has
    /// nothing to complete.
    async fn complete_key(
        &mut self,
        user: UserId,
        key: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Makes every write of the unit durable and visible, at once.
    ///
    /// # Errors
    /// `Unavailable` when the outcome is unknown (the connection died with the commit in
    /// flight): the writes may or may not have been made.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Ends the unit without writing anything.
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}

/// The response first given to a request with an idempotency key, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// What `IdempotencyStore::begin` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new (or expired, or abandoned): the caller runs the request and then
    /// stores its response with `OrderUnit::complete_key` (in the unit that made the
    /// request's writes) or calls `release`.
    Fresh,
    /// The key's first request finished with this response.
    Replay(StoredResponse),
    /// The key's first request is still running.
    InFlight,
    /// The key was used with another request body.
    KeyReused,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically claims `(user, key)` for a request with `fingerprint`. A completed key
    /// completed before `now - retention` counts as
    /// new, and so does an in-flight claim older than `abandon_after`.
    async fn begin(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        retention: chrono::Duration,
        abandon_after: chrono::Duration,
    ) -> Result<IdempotencyBegin, StoreError>;

    /// Forgets a claimed key without storing anything (a 422, a failure).
    async fn release(&self, user: UserId, key: &str) -> Result<(), StoreError>;

    /// Deletes keys created before `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
