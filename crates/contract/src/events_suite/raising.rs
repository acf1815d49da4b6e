//! Contract of the events state changes write: each change leaves exactly its events in the
//! outbox, with the payload the domain defines, and a refused change leaves none.

use super::support::{
    ALERT_WINDOW, LOW_STOCK, LOW_STOCK_RULE, create_product, create_user, now, outbox, place, place_at, set_stock_at,
    types, written_since,
};
use crate::EventStores;
use crate::catalog_suite::support::new_review;
use crate::suite::support::new_user;
use chrono::{DateTime, TimeDelta, Utc};
use storefront_app::StoreError;
use storefront_app::catalog::stock_change_rule;
use storefront_app::orders::move_order;
use storefront_app::ports::{ProductChanges, TransitionOutcome};
use storefront_domain::events::{
    OrderCancelled, OrderPlaced, OrderStatusChanged, ProductStockLow, ReviewCreated, ReviewUpdated, UserRegistered,
};
use storefront_domain::{EventType, OrderStatus, PlacementError, ProductId, ProductName, Rating, ReviewBody, ReviewId};
use uuid::Uuid;

pub async fn creating_a_user_writes_its_user_registered_event(stores: EventStores) {
    let user = create_user(&stores, "ada@example.com").await;

    let events = outbox(&stores).await;
    assert_eq!(types(&events), vec![EventType::UserRegistered]);
    let event = &events[0];
    assert_eq!((event.version, event.occurred_at), (1, user.created_at));
    let payload: UserRegistered = event.payload_as().unwrap();
    assert_eq!(
        payload,
        UserRegistered { user_id: user.id, email: "ada@example.com".into(), name: "Ada Lovelace".into() }
    );
}

pub async fn a_refused_user_creation_writes_no_event(stores: EventStores) {
    create_user(&stores, "ada@example.com").await;
    let err = stores.users.create(new_user("ADA@example.com")).await.unwrap_err();
    assert_eq!(err, StoreError::EmailTaken);
    assert_eq!(outbox(&stores).await.len(), 1, "only the first account's event");
}

pub async fn placing_an_order_writes_order_placed_and_stock_low_for_each_product_it_takes_to_the_threshold(
    stores: EventStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let crossing = create_product(&stores, seller.id, "Crossing", LOW_STOCK + 3).await;
    let staying = create_product(&stores, seller.id, "Staying high", 100).await;
    let already_low = create_product(&stores, seller.id, "Already low", LOW_STOCK).await;
    let before = outbox(&stores).await.len();

    let order = place(&stores, buyer.id, &[(crossing.id, 3), (staying.id, 5), (already_low.id, 1)]).await.unwrap();

    let events = written_since(&stores, before).await;
    assert_eq!(types(&events), vec![EventType::OrderPlaced, EventType::ProductStockLow]);
    let placed: OrderPlaced = events[0].payload_as().unwrap();
    assert_eq!((placed.order_id, placed.user_id, placed.total_cents), (order.id, Some(buyer.id), order.total_cents));
    assert_eq!(
        placed.items.iter().map(|l| (l.product_id, l.quantity)).collect::<Vec<_>>(),
        vec![(crossing.id, 3), (staying.id, 5), (already_low.id, 1)]
    );
    let low: ProductStockLow = events[1].payload_as().unwrap();
    assert_eq!(
        low,
        ProductStockLow { product_id: crossing.id, name: "Crossing".into(), stock: LOW_STOCK, threshold: LOW_STOCK }
    );
    assert!(events.iter().all(|e| e.occurred_at == order.created_at));
}

pub async fn a_refused_order_writes_no_event(stores: EventStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let plenty = create_product(&stores, seller.id, "Plenty", 100).await;
    let scarce = create_product(&stores, seller.id, "Scarce", 2).await;
    let before = outbox(&stores).await.len();

    let refused = place(&stores, buyer.id, &[(plenty.id, 99), (scarce.id, 3)]).await;

    assert!(matches!(refused, Err(PlacementError::InsufficientStock(_))), "{refused:?}");
    assert!(written_since(&stores, before).await.is_empty(), "no order, no stock taken, no event");
}

pub async fn each_move_of_an_order_writes_order_status_changed_and_a_cancellation_order_cancelled(stores: EventStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100).await;
    let order = place(&stores, buyer.id, &[(pen.id, 2)]).await.unwrap();
    let before = outbox(&stores).await.len();

    for to in [OrderStatus::Paid, OrderStatus::Cancelled] {
        assert!(matches!(
            move_order(stores.orders.as_ref(), order.id, to, now()).await.unwrap(),
            TransitionOutcome::Moved(_)
        ));
    }
    let refused = move_order(stores.orders.as_ref(), order.id, OrderStatus::Shipped, now()).await.unwrap();
    assert!(matches!(refused, TransitionOutcome::Refused { .. }));

    let events = written_since(&stores, before).await;
    assert_eq!(types(&events), vec![EventType::OrderStatusChanged, EventType::OrderCancelled], "none for the refusal");
    let paid: OrderStatusChanged = events[0].payload_as().unwrap();
    assert_eq!(
        (paid.order_id, paid.user_id, paid.from.as_str(), paid.to.as_str()),
        (order.id, Some(buyer.id), "pending", "paid")
    );
    let cancelled: OrderCancelled = events[1].payload_as().unwrap();
    assert_eq!((cancelled.order_id, cancelled.from.as_str()), (order.id, "paid"));
    assert_eq!(cancelled.items.iter().map(|l| (l.product_id, l.quantity)).collect::<Vec<_>>(), vec![(pen.id, 2)]);
}

pub async fn a_stock_change_writes_stock_low_only_when_it_crosses_the_threshold_downwards(stores: EventStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 20).await;
    let before = outbox(&stores).await.len();

    let start = now();
    set_stock_at(&stores, pen.id, LOW_STOCK + 1, start).await; // still above
    set_stock_at(&stores, pen.id, LOW_STOCK - 1, start).await; // crosses
    set_stock_at(&stores, pen.id, 0, start).await; // already low
    set_stock_at(&stores, pen.id, 50, start).await; // up
    let rename = ProductChanges { name: Some(ProductName::parse("Fountain pen").unwrap()), ..Default::default() };
    stores.products.update(pen.id, rename, start, &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
    // Crosses again, under its new name, once the first alert's window is over.
    set_stock_at(&stores, pen.id, LOW_STOCK, start + ALERT_WINDOW).await;

    let events = written_since(&stores, before).await;
    assert_eq!(types(&events), vec![EventType::ProductStockLow, EventType::ProductStockLow]);
    let lows: Vec<ProductStockLow> = events.iter().map(|e| e.payload_as().unwrap()).collect();
    assert_eq!(
        lows.iter().map(|l| (l.name.as_str(), l.stock)).collect::<Vec<_>>(),
        vec![("Pen", LOW_STOCK - 1), ("Fountain pen", LOW_STOCK)]
    );
}

pub async fn a_product_raises_stock_low_at_most_once_per_window_however_often_its_stock_crosses(stores: EventStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 20).await;
    let ink = create_product(&stores, seller.id, "Ink", 20).await;
    let before = outbox(&stores).await.len();
    let start = now();

    // Its owner moves the stock across the threshold again and again within the window.
    for minute in 0..5 {
        let at = start + TimeDelta::minutes(minute);
        set_stock_at(&stores, pen.id, 0, at).await;
        set_stock_at(&stores, pen.id, 20, at).await;
    }
    // Another product's alert is its own.
    set_stock_at(&stores, ink.id, 1, start).await;
    // The window is counted from the first alert, not from the last crossing.
    set_stock_at(&stores, pen.id, 2, start + ALERT_WINDOW - TimeDelta::seconds(1)).await;
    set_stock_at(&stores, pen.id, 20, start + ALERT_WINDOW - TimeDelta::seconds(1)).await;
    let later = start + ALERT_WINDOW;
    set_stock_at(&stores, pen.id, 3, later).await; // the window is over: alerts again
    set_stock_at(&stores, pen.id, 20, later).await;
    set_stock_at(&stores, pen.id, 4, later + TimeDelta::seconds(1)).await; // within the new window

    let events = written_since(&stores, before).await;
    let lows: Vec<(ProductId, i64, DateTime<Utc>)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.event_type, EventType::ProductStockLow);
            let low: ProductStockLow = e.payload_as().unwrap();
            (low.product_id, low.stock, e.occurred_at)
        })
        .collect();
    assert_eq!(lows, vec![(pen.id, 0, start), (ink.id, 1, start), (pen.id, 3, later)]);
}

pub async fn orders_and_stock_changes_share_one_low_stock_window_per_product(stores: EventStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", LOW_STOCK + 2).await;
    let before = outbox(&stores).await.len();
    let start = now();

    // An order takes the stock across: it alerts.
    place_at(&stores, buyer.id, &[(pen.id, 3)], start).await.unwrap();
    // Its owner refills and empties it, then another order crosses, all within the window.
    set_stock_at(&stores, pen.id, 50, start + TimeDelta::minutes(1)).await;
    set_stock_at(&stores, pen.id, 0, start + TimeDelta::minutes(2)).await;
    set_stock_at(&stores, pen.id, LOW_STOCK + 1, start + TimeDelta::minutes(3)).await;
    place_at(&stores, buyer.id, &[(pen.id, 1)], start + TimeDelta::minutes(4)).await.unwrap();
    // After the window an order's crossing alerts again.
    set_stock_at(&stores, pen.id, LOW_STOCK + 1, start + ALERT_WINDOW).await;
    let later = start + ALERT_WINDOW + TimeDelta::minutes(1);
    place_at(&stores, buyer.id, &[(pen.id, 1)], later).await.unwrap();

    let lows: Vec<(i64, DateTime<Utc>)> = written_since(&stores, before)
        .await
        .iter()
        .filter(|e| e.event_type == EventType::ProductStockLow)
        .map(|e| (e.payload_as::<ProductStockLow>().unwrap().stock, e.occurred_at))
        .collect();
    assert_eq!(lows, vec![(LOW_STOCK - 1, start), (LOW_STOCK, later)]);
}

pub async fn a_refused_product_change_writes_no_event(stores: EventStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 20).await;
    let before = outbox(&stores).await.len();
    let changes = ProductChanges {
        stock: Some(storefront_domain::Stock::parse(0).unwrap()),
        category_ids: Some(vec![storefront_domain::CategoryId(uuid::Uuid::now_v7())]),
        ..Default::default()
    };

    let err = stores.products.update(pen.id, changes, now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap_err();

    assert_eq!(err, StoreError::InvalidReference("category_ids".into()));
    assert!(written_since(&stores, before).await.is_empty());
    assert_eq!(stores.products.get(pen.id, None).await.unwrap().unwrap().stock, 20);
}

pub async fn creating_a_review_writes_review_created_and_a_refused_one_nothing(stores: EventStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let author = create_user(&stores, "author@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 20).await;
    let before = outbox(&stores).await.len();

    let review = stores.reviews.create(new_review(pen.id, author.id, 4)).await.unwrap();
    let again = stores.reviews.create(new_review(pen.id, author.id, 5)).await.unwrap_err();

    assert_eq!(again, StoreError::AlreadyExists);
    let events = written_since(&stores, before).await;
    assert_eq!(types(&events), vec![EventType::ReviewCreated]);
    let created: ReviewCreated = events[0].payload_as().unwrap();
    assert_eq!(created, ReviewCreated { review_id: review.id, product_id: pen.id, author_id: author.id, rating: 4 });
}

pub async fn editing_a_review_writes_review_updated_with_its_text_revision_and_an_unknown_one_nothing(
    stores: EventStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let author = create_user(&stores, "author@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 20).await;
    let review = stores.reviews.create(new_review(pen.id, author.id, 4)).await.unwrap();
    let before = outbox(&stores).await.len();
    let later = review.created_at + TimeDelta::seconds(5);

    let rated = stores.reviews.update(review.id, Some(Rating::parse(2).unwrap()), None, later).await.unwrap();
    let rewritten =
        stores.reviews.update(review.id, None, Some(ReviewBody::parse("Leaks.").unwrap()), later).await.unwrap();
    let unknown = stores.reviews.update(ReviewId(Uuid::now_v7()), None, None, later).await.unwrap_err();

    assert_eq!(unknown, StoreError::NotFound);
    let events = written_since(&stores, before).await;
    assert_eq!(types(&events), vec![EventType::ReviewUpdated, EventType::ReviewUpdated]);
    assert!(events.iter().all(|e| e.version == 1 && e.occurred_at == later));
    let first: ReviewUpdated = events[0].payload_as().unwrap();
    let second: ReviewUpdated = events[1].payload_as().unwrap();
    let expected = |rating, revision| ReviewUpdated {
        review_id: review.id,
        product_id: pen.id,
        author_id: author.id,
        rating,
        revision,
    };
    assert_eq!((first, rated.revision), (expected(2, 1), 1), "a new rating is no new text");
    assert_eq!((second, rewritten.revision), (expected(2, 2), 2));
}
