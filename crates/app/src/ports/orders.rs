//! Persistence of orders (placement takes stock atomically), their life cycle, the
//! business statistics, and idempotency keys.

use super::{Page, PageRequest};
use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefront_domain::{Order, OrderId, OrderRequest, OrderStatus, PlacementError, ProductId, UserId};

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

#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// In ONE transaction: locks the request's products in id order, prices the request
    /// with `storefront_domain::price_order`, takes every line's stock, writes the order
    /// with its snapshot lines as `pending`, and writes its events
    /// (`storefront_domain::placement_events`: `order.placed`, and `product.stock_low` for
    /// each product taken to or below `low_stock_threshold`) to the outbox. Any refused
    /// line rolls everything back (no event either) and answers `Ok(Err(PlacementError))`.
    /// Under any concurrency stock never goes below zero and sold units plus stock left
    /// equal the stock put in.
    async fn place(
        &self,
        order: NewOrder,
        low_stock_threshold: i64,
    ) -> Result<Result<Order, PlacementError>, StoreError>;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError>;

    /// Orders matching the filter, newest first (created_at, then id, descending).
    async fn list(&self, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>, StoreError>;

    /// In ONE transaction: locks the order; moves it to `to` if `current.can_become(to)`,
    /// when `to` is `cancelled` gives the stock of every line back (to the products that
    /// still exist), and writes the move's event (`storefront_domain::transition_events`)
    /// to the outbox. Of two racing moves from one status exactly one is `Moved` (and one
    /// event is written).
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown order.
    async fn transition(
        &self,
        id: OrderId,
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> Result<TransitionOutcome, StoreError>;

    /// Whether the user has a non-cancelled order of the product (a verified purchase).
    async fn has_bought(&self, user: UserId, product: ProductId) -> Result<bool, StoreError>;

    /// The business statistics, by aggregate queries.
    async fn stats(&self, low_stock_threshold: i64, now: DateTime<Utc>) -> Result<BusinessStats, StoreError>;
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
    /// calls `complete` or `release`.
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

    /// Stores the response of a claimed key.
    async fn complete(
        &self,
        user: UserId,
        key: &str,
        response: StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets a claimed key without storing anything (a 422, a failure).
    async fn release(&self, user: UserId, key: &str) -> Result<(), StoreError>;

    /// Deletes keys created before `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
