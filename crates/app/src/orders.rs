//! Orders: placing them (stock taken atomically, prices from the server only), reading
//! them with owner-or-permission visibility, their life cycle, idempotency keys, and the
//! business statistics.

use crate::ports::{
    BusinessStats, Clock, IdGenerator, IdempotencyBegin, IdempotencyStore, NewOrder, OrderFilter, OrderRepository,
    Page, PageRequest, StoredResponse, TransitionOutcome,
};
use crate::{AppError, Principal};
use chrono::Duration;
use std::future::Future;
use std::sync::Arc;
use storefront_domain::{Order, OrderId, OrderRequest, OrderStatus, Permission, PlacementError, RequestedLine};

/// Order settings from configuration.
#[derive(Debug, Clone, Copy)]
pub struct OrderSettings {
    /// How long an idempotency key's first response is replayed.
    pub idempotency_retention: Duration,
    /// After how long a key whose first request never finished may be used again.
    pub idempotency_abandon_after: Duration,
    /// Products at or below this stock are "low" in the statistics, and an order taking a
    /// product's stock to it or below raises `product.stock_low`.
    pub low_stock_threshold: i64,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            idempotency_retention: Duration::hours(24),
            idempotency_abandon_after: Duration::minutes(5),
            low_stock_threshold: 5,
        }
    }
}

#[derive(Clone)]
pub struct OrderService {
    orders: Arc<dyn OrderRepository>,
    idempotency: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    settings: OrderSettings,
}

impl OrderService {
    pub fn new(
        orders: Arc<dyn OrderRepository>,
        idempotency: Arc<dyn IdempotencyStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        settings: OrderSettings,
    ) -> Self {
        Self { orders, idempotency, clock, ids, settings }
    }

    /// Places an order for the caller; every line's stock is taken, or none is.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn place(&self, buyer: &Principal, lines: Vec<RequestedLine>) -> Result<Order, AppError> {
        let request = OrderRequest::parse(lines).map_err(AppError::Validation)?;
        let order =
            NewOrder { id: self.ids.new_id().into(), user_id: buyer.user.id, request, created_at: self.clock.now() };
        match self.orders.place(order, self.settings.low_stock_threshold).await? {
            Ok(order) => Ok(order),
            Err(PlacementError::UnknownProducts(lines)) => Err(AppError::Validation(
                lines
                    .into_iter()
                    .map(|i| {
                        storefront_domain::FieldViolation::new(format!("items[{i}].product_id"), "no such product")
                    })
                    .collect(),
            )),
            Err(PlacementError::InsufficientStock(shortages)) => Err(AppError::InsufficientStock(shortages)),
            Err(PlacementError::Overflow) => Err(AppError::validation("items", "the order total is too large")),
        }
    }

    /// The caller's orders, or everyone's with `all` (which needs `orders:read_all`).
    pub async fn list(
        &self,
        caller: &Principal,
        all: bool,
        status: Option<OrderStatus>,
        page: PageRequest,
    ) -> Result<Page<Order>, AppError> {
        if all && !caller.permissions.contains(Permission::OrdersReadAll) {
            return Err(AppError::Forbidden);
        }
        let user_id = if all { None } else { Some(caller.user.id) };
        Ok(self.orders.list(OrderFilter { user_id, status }, page).await?)
    }

    /// The order, to its buyer or a holder of `orders:read_all`; `NotFound` to anyone else,
    /// so that existence is not leaked.
    pub async fn get(&self, caller: &Principal, id: OrderId) -> Result<Order, AppError> {
        let order = self.orders.get(id).await?.ok_or(AppError::NotFound)?;
        if order.user_id == Some(caller.user.id) || caller.permissions.contains(Permission::OrdersReadAll) {
            Ok(order)
        } else {
            Err(AppError::NotFound)
        }
    }

    /// Cancels an order: its buyer (while `pending` or `paid`) or a holder of
    /// `orders:manage`. A caller who may read it but not cancel it (`orders:read_all`) gets
    /// `Forbidden`; anyone else `NotFound`, so that existence is not leaked.
    pub async fn cancel(&self, caller: &Principal, id: OrderId) -> Result<Order, AppError> {
        let order = self.orders.get(id).await?.ok_or(AppError::NotFound)?;
        let owner = order.user_id == Some(caller.user.id);
        if !owner && !caller.permissions.contains(Permission::OrdersManage) {
            return Err(if caller.permissions.contains(Permission::OrdersReadAll) {
                AppError::Forbidden
            } else {
                AppError::NotFound
            });
        }
        self.move_to(id, OrderStatus::Cancelled).await
    }

    /// Moves an order along its life cycle (the caller holds `orders:manage`).
    pub async fn set_status(&self, id: OrderId, to: OrderStatus) -> Result<Order, AppError> {
        self.move_to(id, to).await
    }

    async fn move_to(&self, id: OrderId, to: OrderStatus) -> Result<Order, AppError> {
        match self.orders.transition(id, to, self.clock.now()).await? {
            TransitionOutcome::Moved(order) => Ok(order),
            TransitionOutcome::Refused { current } => Err(AppError::InvalidTransition { from: current, to }),
        }
    }

    pub async fn stats(&self) -> Result<BusinessStats, AppError> {
        Ok(self.orders.stats(self.settings.low_stock_threshold, self.clock.now()).await?)
    }

    /// Runs a request under an idempotency key of the caller's: the first request with the
    /// key runs `respond` and its response is stored for the key's replays (unless it is a
    /// 422 or a 5xx: a request that was refused as invalid, or did not complete, stores
    /// nothing, so a corrected or later retry runs again); a repeat with the same body
    /// answers the stored response without running anything.
    ///
    /// # Errors
    /// `Validation` for a malformed key, `IdempotencyKeyReused` for the key used with
    /// another body, `Conflict` while the key's first request is still running.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn idempotent<F, Fut>(
        &self,
        caller: &Principal,
        key: &str,
        fingerprint: &str,
        respond: F,
    ) -> Result<IdempotentResponse, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoredResponse>,
    {
        validate_idempotency_key(key)?;
        let user = caller.user.id;
        let begin = self
            .idempotency
            .begin(
                user,
                key,
                fingerprint,
                self.clock.now(),
                self.settings.idempotency_retention,
                self.settings.idempotency_abandon_after,
            )
            .await?;
        match begin {
            IdempotencyBegin::Fresh => {
                let response = respond().await;
                if is_replayable(response.status) {
                    self.idempotency.complete(user, key, response.clone(), self.clock.now()).await?;
                } else {
                    self.idempotency.release(user, key).await?;
                }
                Ok(IdempotentResponse::First(response))
            }
            IdempotencyBegin::Replay(response) => Ok(IdempotentResponse::Replayed(response)),
            IdempotencyBegin::KeyReused => Err(AppError::IdempotencyKeyReused),
            IdempotencyBegin::InFlight => {
                Err(AppError::Conflict("a request with this Idempotency-Key is still being processed".into()))
            }
        }
    }

    /// Deletes idempotency keys past their retention; returns how many.
    pub async fn purge_idempotency_keys(&self) -> Result<u64, AppError> {
        Ok(self.idempotency.purge(self.clock.now() - self.settings.idempotency_retention).await?)
    }
}

/// What `OrderService::idempotent` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentResponse {
    /// The key's first request ran now and answered this.
    First(StoredResponse),
    /// The key's first response, answered again.
    Replayed(StoredResponse),
}

/// Whether a first response is stored for replays: not a refusal of the request as
/// invalid (422), nor a failure to complete it (5xx).
fn is_replayable(status: u16) -> bool {
    status != 422 && status < 500
}

/// 1..=255 printable ASCII characters.
fn validate_idempotency_key(key: &str) -> Result<(), AppError> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(AppError::validation("Idempotency-Key", "must be 1..=255 printable ASCII characters"))
    }
}
