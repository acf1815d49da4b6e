//! The orders' units of work, written once over the `OrderRepository` port: placing an
//! order (lock the products, price with the domain, take the stock, write the order and its
//! events — with its idempotency key's response when it has one) and moving one along its
//! life cycle (lock, check the move, give the stock back on cancellation, write the event).
//! A unit the store aborted (a deadlock, a serialisation failure) runs again from the start,
//! rules included, on what it then reads.

use crate::StoreError;
use crate::ports::{NewOrder, OrderRepository, OrderUnit, StoredResponse, TransitionOutcome};
use chrono::{DateTime, Utc};
use std::future::Future;
use storefront_domain::{
    LowStockRule, Order, OrderId, OrderStatus, PlacementError, ProductId, RaisedEvents, UserId, placement_events,
    price_order, transition_events,
};

/// How many times a unit of work the store aborted is run in all before its error is
/// reported.
const UNIT_ATTEMPTS: u32 = 3;

/// An idempotency key's first response, to store with a unit's writes.
#[derive(Debug, Clone)]
pub(crate) struct Completion<'a> {
    pub user: UserId,
    pub key: &'a str,
    pub response: StoredResponse,
    pub now: DateTime<Utc>,
}

/// Runs `unit` (one whole unit of work) again while the store aborts it, at most
/// `UNIT_ATTEMPTS` times in all.
async fn retrying<T, F, Fut>(mut unit: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut tries = 1;
    loop {
        match unit().await {
            Err(StoreError::Aborted(why)) if tries < UNIT_ATTEMPTS => {
                tracing::warn!(%why, tries, "unit of work aborted by the store; running it again");
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Ends a unit that wrote nothing. Its failure changes nothing (there is nothing to undo):
/// it is logged, and the store drops the connection.
async fn discard(unit: Box<dyn OrderUnit>) {
    if let Err(error) = unit.rollback().await {
        tracing::warn!(%error, "could not roll back a unit of work that wrote nothing");
    }
}

/// Locks the request's products and prices it: the order to write with its events (and the
/// low-stock alerts to record), or why it cannot be placed.
async fn price(
    unit: &mut dyn OrderUnit,
    new: &NewOrder,
    low_stock: LowStockRule,
) -> Result<Result<(Order, RaisedEvents), PlacementError>, StoreError> {
    let ids: Vec<ProductId> = new.request.lines().iter().map(|l| l.product_id).collect();
    let products = unit.lock_products(&ids).await?;
    let (items, total_cents) = match price_order(&new.request, &products) {
        Ok(priced) => priced,
        Err(refused) => return Ok(Err(refused)),
    };
    let order = Order {
        id: new.id,
        user_id: Some(new.user_id),
        status: OrderStatus::Pending,
        items,
        total_cents,
        created_at: new.created_at,
        updated_at: new.created_at,
    };
    let raised = placement_events(&order, &products, low_stock);
    Ok(Ok((order, raised)))
}

/// Writes a priced order with its events and records its low-stock alerts, in the unit.
async fn write(unit: &mut dyn OrderUnit, order: &Order, raised: &RaisedEvents) -> Result<(), StoreError> {
    unit.insert_order(order, &raised.events).await?;
    if !raised.low_stock_alerted.is_empty() {
        unit.record_low_stock_alerts(&raised.low_stock_alerted).await?;
    }
    Ok(())
}

/// Places `new` in one unit: every line's stock is taken and the order written with its
/// events (`order.placed`, `product.stock_low` for each product taken to or below the
/// threshold that has not alerted within the window, its alert time recorded), or, when
/// the domain refuses it, nothing is written. Under any
/// concurrency stock never goes below zero and sold units plus stock left equal the stock
/// put in.
///
/// # Errors
/// The store's: `Conflict` for an existing order id, `InvalidReference("user_id")` for an
/// unknown buyer, `Unavailable` (the outcome of a commit in flight is then unknown).
pub async fn place_order(
    orders: &dyn OrderRepository,
    new: &NewOrder,
    low_stock: LowStockRule,
) -> Result<Result<Order, PlacementError>, StoreError> {
    retrying(|| async {
        let mut unit = orders.begin().await?;
        match price(unit.as_mut(), new, low_stock).await? {
            Ok((order, raised)) => {
                write(unit.as_mut(), &order, &raised).await?;
                unit.commit().await?;
                Ok(Ok(order))
            }
            Err(refused) => {
                discard(unit).await;
                Ok(Err(refused))
            }
        }
    })
    .await
}

/// Places `new` in one unit with its idempotency key's outcome: `answer` turns what the
/// domain decided into the key's completion (stored with the order, or with nothing when
/// the order is refused) or into a response not to store (nothing is written then).
pub(crate) async fn place_and_complete<'a, A>(
    orders: &dyn OrderRepository,
    new: &NewOrder,
    low_stock: LowStockRule,
    mut answer: A,
) -> Result<Result<Completion<'a>, StoredResponse>, StoreError>
where
    A: FnMut(Result<&Order, PlacementError>) -> Result<Completion<'a>, StoredResponse>,
{
    let mut tries = 1;
    loop {
        let attempt = async {
            let mut unit = orders.begin().await?;
            let priced = price(unit.as_mut(), new, low_stock).await?;
            let (completion, placed) = match priced {
                Ok((order, raised)) => (answer(Ok(&order)), Some((order, raised))),
                Err(refused) => (answer(Err(refused)), None),
            };
            let completion = match completion {
                Ok(completion) => completion,
                Err(response) => {
                    discard(unit).await;
                    return Ok(Err(response));
                }
            };
            if let Some((order, raised)) = &placed {
                write(unit.as_mut(), order, raised).await?;
            }
            unit.complete_key(completion.user, completion.key, &completion.response, completion.now).await?;
            unit.commit().await?;
            Ok(Ok(completion))
        };
        match attempt.await {
            Err(StoreError::Aborted(why)) if tries < UNIT_ATTEMPTS => {
                tracing::warn!(%why, tries, "placement aborted by the store; running it again");
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Stores a key's first response in a unit of its own (a request that wrote nothing else).
pub(crate) async fn complete_alone(
    orders: &dyn OrderRepository,
    completion: &Completion<'_>,
) -> Result<(), StoreError> {
    retrying(|| async {
        let mut unit = orders.begin().await?;
        unit.complete_key(completion.user, completion.key, &completion.response, completion.now).await?;
        unit.commit().await
    })
    .await
}

/// Moves an order to `to` in one unit, if its current status allows it
/// (`OrderStatus::can_become`): a cancellation gives every line's stock back (to the
/// products that still exist), and the move's event (`transition_events`) is written with
/// it. Of two racing moves from one status exactly one is `Moved`.
///
/// # Errors
/// `NotFound` for an unknown order; the store's.
pub async fn move_order(
    orders: &dyn OrderRepository,
    id: OrderId,
    to: OrderStatus,
    now: DateTime<Utc>,
) -> Result<TransitionOutcome, StoreError> {
    retrying(|| async {
        let mut unit = orders.begin().await?;
        let cancelling = to == OrderStatus::Cancelled;
        let Some(order) = unit.lock_order(id, cancelling).await? else {
            discard(unit).await;
            return Err(StoreError::NotFound);
        };
        let from = order.status;
        if !from.can_become(to) {
            discard(unit).await;
            return Ok(TransitionOutcome::Refused { current: from });
        }
        let moved = Order { status: to, updated_at: now, ..order };
        unit.update_status(&moved).await?;
        if cancelling {
            unit.restock(&moved.items).await?;
        }
        unit.append_events(&transition_events(&moved, from)).await?;
        unit.commit().await?;
        Ok(TransitionOutcome::Moved(moved))
    })
    .await
}
