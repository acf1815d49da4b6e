//! Orders: placing them (stock taken atomically, prices from the server only), reading
//! them with owner-or-permission visibility, their life cycle, idempotency keys, and the
//! business statistics.

mod units;

pub use units::{move_order, place_order};

use crate::lifecycle::VerifiedEmailRule;
use crate::ports::{
    BusinessStats, Clock, IdGenerator, IdempotencyBegin, IdempotencyStore, NewOrder, OrderFilter, OrderRepository,
    Page, PageRequest, StoredResponse, TransitionOutcome,
};
use crate::{AppError, Principal};
use chrono::Duration;
use std::sync::Arc;
use storefront_domain::{
    LowStockRule, Order, OrderId, OrderRequest, OrderStatus, Permission, PlacementError, RequestedLine,
};

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
    /// At most one `product.stock_low` per product per this window.
    pub low_stock_alert_window: Duration,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            idempotency_retention: Duration::hours(24),
            idempotency_abandon_after: Duration::minutes(5),
            low_stock_threshold: 5,
            low_stock_alert_window: Duration::hours(1),
        }
    }
}

impl OrderSettings {
    /// When a placement raises `product.stock_low`.
    pub fn low_stock_rule(&self) -> LowStockRule {
        LowStockRule { threshold: self.low_stock_threshold, window: self.low_stock_alert_window }
    }
}

#[derive(Clone)]
pub struct OrderService {
    orders: Arc<dyn OrderRepository>,
    idempotency: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    settings: OrderSettings,
    verified_email: VerifiedEmailRule,
}

impl OrderService {
    pub fn new(
        orders: Arc<dyn OrderRepository>,
        idempotency: Arc<dyn IdempotencyStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        settings: OrderSettings,
    ) -> Self {
        Self { orders, idempotency, clock, ids, settings, verified_email: VerifiedEmailRule::default() }
    }

    /// The same service, refusing buyers without a verified email if `rule` says so.
    pub fn with_verified_email_rule(mut self, rule: VerifiedEmailRule) -> Self {
        self.verified_email = rule;
        self
    }

    /// Places an order for the caller; every line's stock is taken, or none is.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn place(&self, buyer: &Principal, lines: Vec<RequestedLine>) -> Result<Order, AppError> {
        self.verified_email.check(buyer)?;
        let order = self.new_order(buyer, lines)?;
        match place_order(self.orders.as_ref(), &order, self.settings.low_stock_rule()).await? {
            Ok(order) => Ok(order),
            Err(refused) => Err(refusal(refused)),
        }
    }

    /// The order to place for `lines`, checked.
    fn new_order(&self, buyer: &Principal, lines: Vec<RequestedLine>) -> Result<NewOrder, AppError> {
        let request = OrderRequest::parse(lines).map_err(AppError::Validation)?;
        Ok(NewOrder { id: self.ids.new_id().into(), user_id: buyer.user.id, request, created_at: self.clock.now() })
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
        match move_order(self.orders.as_ref(), id, to, self.clock.now()).await? {
            TransitionOutcome::Moved(order) => Ok(order),
            TransitionOutcome::Refused { current } => Err(AppError::InvalidTransition { from: current, to }),
        }
    }

    pub async fn stats(&self) -> Result<BusinessStats, AppError> {
        Ok(self.orders.stats(self.settings.low_stock_threshold, self.clock.now()).await?)
    }

    /// Places an order under an idempotency key of the caller's. The first request with the
    /// key places it (`lines`; or answers `lines`' error, a body that could not be read) and
    /// its response, made by `render`, is stored for the key's replays in the unit of work
    /// that writes the order, so that an order is placed if and only if its key replays it
    /// (unless the response is a 422: a request refused as invalid stores nothing, so a
    /// corrected retry runs again). A repeat with the same body answers the stored
    /// response without running anything. A first request that fails (the store) has
    /// written nothing: its claim is released, and a retry runs again.
    ///
    /// `render` may be called more than once (a unit the store aborted runs again); the
    /// response of the last call is the one stored and answered.
    ///
    /// # Errors
    /// `Validation` for a malformed key, `IdempotencyKeyReused` for the key used with
    /// another body, `Conflict` while the key's first request is still running, and the
    /// store's errors (`Unavailable`, `Internal`) for a first request that did not complete.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn place_idempotently<R>(
        &self,
        caller: &Principal,
        key: &str,
        fingerprint: &str,
        lines: Result<Vec<RequestedLine>, StoredResponse>,
        render: R,
    ) -> Result<IdempotentResponse, AppError>
    where
        R: FnMut(Result<Order, AppError>) -> StoredResponse,
    {
        self.verified_email.check(caller)?;
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
            IdempotencyBegin::Fresh => {}
            IdempotencyBegin::Replay(response) => return Ok(IdempotentResponse::Replayed(response)),
            IdempotencyBegin::KeyReused => return Err(AppError::IdempotencyKeyReused),
            IdempotencyBegin::InFlight => {
                return Err(AppError::Conflict("a request with this Idempotency-Key is still being processed".into()));
            }
        }
        match self.first_request(caller, key, lines, render).await {
            Ok(Stored::Kept(response)) => Ok(IdempotentResponse::First(response)),
            Ok(Stored::Not(response)) => {
                self.release(caller, key).await;
                Ok(IdempotentResponse::First(response))
            }
            Err(failed) => {
                // Nothing was written, or (the commit's outcome unknown) the response was
                // stored with the order: releasing leaves a stored response as it is.
                self.release(caller, key).await;
                Err(failed)
            }
        }
    }

    /// The first request of a claimed key: its response, and whether it was stored.
    async fn first_request<R>(
        &self,
        caller: &Principal,
        key: &str,
        lines: Result<Vec<RequestedLine>, StoredResponse>,
        mut render: R,
    ) -> Result<Stored, AppError>
    where
        R: FnMut(Result<Order, AppError>) -> StoredResponse,
    {
        let completion = |response| units::Completion { user: caller.user.id, key, response, now: self.clock.now() };
        let new = match lines.map(|lines| self.new_order(caller, lines)) {
            Ok(Ok(new)) => new,
            Ok(Err(invalid)) => return Ok(Stored::Not(render(Err(invalid)))),
            Err(unread) if is_replayable(unread.status) => {
                units::complete_alone(self.orders.as_ref(), &completion(unread.clone())).await?;
                return Ok(Stored::Kept(unread));
            }
            Err(unread) => return Ok(Stored::Not(unread)),
        };
        let answer = |placed: Result<&Order, PlacementError>| {
            let response = match placed {
                Ok(order) => render(Ok(order.clone())),
                Err(refused) => render(Err(refusal(refused))),
            };
            if is_replayable(response.status) { Ok(completion(response)) } else { Err(response) }
        };
        let stored =
            units::place_and_complete(self.orders.as_ref(), &new, self.settings.low_stock_rule(), answer).await?;
        Ok(match stored {
            Ok(completion) => Stored::Kept(completion.response),
            Err(response) => Stored::Not(response),
        })
    }

    /// Forgets the claim of a key whose first request stored nothing; a failure leaves it to
    /// be abandoned (`idempotency_abandon_after`).
    async fn release(&self, caller: &Principal, key: &str) {
        if let Err(error) = self.idempotency.release(caller.user.id, key).await {
            tracing::warn!(%error, "could not release an idempotency key; it is abandoned later");
        }
    }

    /// Deletes idempotency keys past their retention; returns how many.
    pub async fn purge_idempotency_keys(&self) -> Result<u64, AppError> {
        Ok(self.idempotency.purge(self.clock.now() - self.settings.idempotency_retention).await?)
    }
}

/// A first request's response, and whether it is stored for the key's replays.
enum Stored {
    Kept(StoredResponse),
    Not(StoredResponse),
}

/// Why the domain refused a placement, as the application says it.
fn refusal(refused: PlacementError) -> AppError {
    match refused {
        PlacementError::UnknownProducts(lines) => AppError::Validation(
            lines
                .into_iter()
                .map(|i| storefront_domain::FieldViolation::new(format!("items[{i}].product_id"), "no such product"))
                .collect(),
        ),
        PlacementError::InsufficientStock(shortages) => AppError::InsufficientStock(shortages),
        PlacementError::Overflow => AppError::validation("items", "the order total is too large"),
    }
}

/// What `OrderService::place_idempotently` answered.
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
