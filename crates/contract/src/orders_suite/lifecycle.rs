//! Contract of moving an order (`orders::move_order` over `OrderRepository`'s unit of
//! work): the moves the life cycle allows, refusals
//! that name the current status, and stock given back on cancellation.

use super::support::{create_product, create_user, move_along, now, place_ok, stock_of, transition};
use crate::OrderStores;
use chrono::Duration;
use storefront_app::StoreError;
use storefront_app::orders::move_order;
use storefront_app::ports::TransitionOutcome;
use storefront_domain::{OrderId, OrderStatus};
use uuid::Uuid;

use OrderStatus::{Cancelled, Delivered, Paid, Pending, Shipped};

pub async fn an_order_moves_from_pending_to_paid_shipped_and_delivered_and_bumps_updated_at(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 10).await;
    let placed = place_ok(&stores, buyer.id, &[(pen.id, 2)]).await;

    let mut at = placed.created_at;
    for to in [Paid, Shipped, Delivered] {
        at += Duration::minutes(1);
        let outcome = move_order(stores.orders.as_ref(), placed.id, to, at).await.unwrap();

        let TransitionOutcome::Moved(moved) = outcome else { panic!("to {to:?}: {outcome:?}") };
        assert_eq!((moved.status, moved.updated_at), (to, at));
        assert_eq!((moved.id, moved.user_id, moved.created_at), (placed.id, placed.user_id, placed.created_at));
        assert_eq!((&moved.items, moved.total_cents), (&placed.items, placed.total_cents));
        assert_eq!(stores.orders.get(placed.id).await.unwrap(), Some(moved));
    }
    assert_eq!(stock_of(&stores, pen.id).await, 8, "only cancellation gives stock back");
}

pub async fn moves_the_life_cycle_does_not_allow_are_refused_with_the_current_status_and_change_nothing(
    stores: OrderStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 100).await;
    let paths: [&[OrderStatus]; 5] = [&[], &[Paid], &[Paid, Shipped], &[Paid, Shipped, Delivered], &[Cancelled]];
    for path in paths {
        let placed = place_ok(&stores, buyer.id, &[(pen.id, 1)]).await;
        let before = move_along(&stores, placed.id, path).await;
        let stock = stock_of(&stores, pen.id).await;
        for to in OrderStatus::ALL.into_iter().filter(|to| !before.status.can_become(*to)) {
            let outcome = transition(&stores, placed.id, to).await;

            assert_eq!(outcome, TransitionOutcome::Refused { current: before.status }, "{:?} to {to:?}", before.status);
            assert_eq!(stores.orders.get(placed.id).await.unwrap(), Some(before.clone()));
            assert_eq!(stock_of(&stores, pen.id).await, stock);
        }
    }
}

pub async fn cancelling_a_pending_or_a_paid_order_gives_its_stock_back(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 10).await;
    let ink = create_product(&stores, seller.id, "Ink", 100, 10).await;
    let pending = place_ok(&stores, buyer.id, &[(pen.id, 2), (ink.id, 3)]).await;
    let paid = place_ok(&stores, buyer.id, &[(pen.id, 4)]).await;
    move_along(&stores, paid.id, &[Paid]).await;
    let kept = place_ok(&stores, buyer.id, &[(ink.id, 1)]).await;
    assert_eq!((stock_of(&stores, pen.id).await, stock_of(&stores, ink.id).await), (4, 6));

    let cancelled = move_along(&stores, pending.id, &[Cancelled]).await;
    assert_eq!((cancelled.status, &cancelled.items), (Cancelled, &pending.items), "the lines stay as they were");
    assert_eq!((stock_of(&stores, pen.id).await, stock_of(&stores, ink.id).await), (6, 9));

    move_along(&stores, paid.id, &[Cancelled]).await;
    assert_eq!((stock_of(&stores, pen.id).await, stock_of(&stores, ink.id).await), (10, 9));
    assert_eq!(stores.orders.get(kept.id).await.unwrap().unwrap().status, Pending);
}

pub async fn cancelling_an_order_whose_product_was_deleted_cancels_it_and_gives_the_other_lines_back(
    stores: OrderStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let gone = create_product(&stores, seller.id, "Gone", 100, 10).await;
    let kept = create_product(&stores, seller.id, "Kept", 100, 10).await;
    let order = place_ok(&stores, buyer.id, &[(gone.id, 2), (kept.id, 5)]).await;
    stores.products.delete(gone.id).await.unwrap();

    let cancelled = move_along(&stores, order.id, &[Cancelled]).await;

    assert_eq!((cancelled.status, &cancelled.items), (Cancelled, &order.items));
    assert_eq!(stock_of(&stores, kept.id).await, 10);
    assert_eq!(stores.products.get(gone.id, None).await.unwrap(), None, "a deleted product stays deleted");
}

pub async fn moving_an_unknown_order_returns_not_found(stores: OrderStores) {
    let err = move_order(stores.orders.as_ref(), OrderId(Uuid::now_v7()), Paid, now()).await.unwrap_err();

    assert_eq!(err, StoreError::NotFound);
}
