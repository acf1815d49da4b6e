//! Contract of orders under concurrency: no oversell, no deadlock whatever the order of the
//! lines, units conserved through placements and cancellations, and racing moves of one
//! order taking effect once.

use super::support::{
    LOW_STOCK_RULE, Lcg, create_product, create_user, every_order, new_order, now, place_ok, stock_of, units_held,
};
use crate::OrderStores;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storefront_app::orders::{move_order, place_order};
use storefront_app::ports::{NewOrder, OrderRepository, TransitionOutcome};
use storefront_domain::{Order, OrderId, OrderStatus, PlacementError, ProductId, Shortage, User};

/// Long enough for any honest store; a deadlocked one fails the test instead of hanging it.
const NO_DEADLOCK: Duration = Duration::from_secs(60);

async fn buyers(stores: &OrderStores, n: usize) -> Vec<User> {
    let mut buyers = Vec::with_capacity(n);
    for i in 0..n {
        buyers.push(create_user(stores, &format!("buyer{i}@example.com")).await);
    }
    buyers
}

/// Places every order at once; each task's result, in task order.
async fn place_all(stores: &OrderStores, orders: Vec<NewOrder>) -> Vec<Result<Order, PlacementError>> {
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|order| {
            let store = Arc::clone(&stores.orders);
            tokio::spawn(async move { place_order(store.as_ref(), &order, LOW_STOCK_RULE).await })
        })
        .collect();
    let joined =
        tokio::time::timeout(NO_DEADLOCK, futures::future::join_all(tasks)).await.expect("every order completes");
    joined.into_iter().map(|task| task.unwrap().unwrap()).collect()
}

pub async fn a_hundred_concurrent_single_unit_orders_for_twenty_five_units_sell_exactly_twenty_five(
    stores: OrderStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyers = buyers(&stores, 10).await;
    let lamp = create_product(&stores, seller.id, "Lamp", 1_999, 25).await;

    let results = place_all(&stores, (0..100).map(|i| new_order(buyers[i % 10].id, &[(lamp.id, 1)])).collect()).await;

    let placed: Vec<&Order> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(placed.len(), 25);
    let sold_out =
        PlacementError::InsufficientStock(vec![Shortage { line: 0, product_id: lamp.id, requested: 1, available: 0 }]);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| *e == sold_out), "{results:?}");
    assert_eq!(stock_of(&stores, lamp.id).await, 0);
    let orders = every_order(&stores).await;
    assert_eq!(orders.len(), 25);
    assert_eq!(units_held(&orders, lamp.id), 25);
    assert!(orders.iter().all(|o| o.total_cents == 1_999 && o.status == OrderStatus::Pending));
}

pub async fn concurrent_orders_listing_two_products_in_opposite_orders_all_complete_and_keep_stock_consistent(
    stores: OrderStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyers = buyers(&stores, 4).await;
    let a = create_product(&stores, seller.id, "A", 100, 20).await;
    let b = create_product(&stores, seller.id, "B", 100, 20).await;
    let orders = (0..40)
        .map(|i| {
            let lines = if i % 2 == 0 { [(a.id, 1), (b.id, 1)] } else { [(b.id, 1), (a.id, 1)] };
            new_order(buyers[i % 4].id, &lines)
        })
        .collect();

    let results = place_all(&stores, orders).await;

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 20, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        let PlacementError::InsufficientStock(short) = refused else { panic!("{refused:?}") };
        assert!(short.iter().all(|s| s.available == 0 && s.requested == 1), "{short:?}");
    }
    let orders = every_order(&stores).await;
    assert_eq!(orders.len(), 20);
    for product in [a.id, b.id] {
        assert_eq!(stock_of(&stores, product).await, 0);
        assert_eq!(units_held(&orders, product), 20);
    }
}

/// What the tasks of the random mix share.
struct Mix {
    orders: Arc<dyn OrderRepository>,
    buyers: Vec<User>,
    products: Vec<ProductId>,
    /// Every order placed so far, for cancellations and payments to pick from.
    placed: Mutex<Vec<OrderId>>,
}

/// One task's part of the random mix: orders placed, moves asked for; returns how many
/// orders it placed.
async fn run_mix(mix: Arc<Mix>, mut rng: Lcg) -> usize {
    let Mix { orders, buyers, products, placed } = &*mix;
    let mut accepted = 0;
    for _ in 0..8 {
        let target = {
            let pool = placed.lock().unwrap();
            (!pool.is_empty() && rng.chance(3)).then(|| pool[rng.below(pool.len())])
        };
        if let Some(id) = target {
            let to = if rng.chance(3) { OrderStatus::Paid } else { OrderStatus::Cancelled };
            move_order(orders.as_ref(), id, to, now()).await.unwrap();
            continue;
        }
        let mut lines: Vec<(ProductId, i64)> = Vec::new();
        for _ in 0..=rng.below(3) {
            let product = products[rng.below(products.len())];
            if lines.iter().all(|(p, _)| *p != product) {
                lines.push((product, 1 + rng.below(4) as i64));
            }
        }
        let buyer = buyers[rng.below(buyers.len())].id;
        if let Ok(order) = place_order(orders.as_ref(), &new_order(buyer, &lines), LOW_STOCK_RULE).await.unwrap() {
            accepted += 1;
            placed.lock().unwrap().push(order.id);
        }
    }
    accepted
}

pub async fn a_random_concurrent_mix_of_orders_and_cancellations_conserves_every_products_units(stores: OrderStores) {
    const INITIAL: i64 = 15;
    let seller = create_user(&stores, "seller@example.com").await;
    let buyers = buyers(&stores, 5).await;
    let mut products = Vec::new();
    for name in ["A", "B", "C", "D"] {
        products.push(create_product(&stores, seller.id, name, 250, INITIAL).await.id);
    }
    let mix = Arc::new(Mix {
        orders: Arc::clone(&stores.orders),
        buyers,
        products: products.clone(),
        placed: Mutex::new(Vec::new()),
    });

    let tasks: Vec<_> = (0..10u64).map(|i| tokio::spawn(run_mix(Arc::clone(&mix), Lcg(0x5eed + i)))).collect();
    let accepted: usize = tokio::time::timeout(NO_DEADLOCK, futures::future::join_all(tasks))
        .await
        .expect("every task completes")
        .into_iter()
        .map(Result::unwrap)
        .sum();

    let orders = every_order(&stores).await;
    assert_eq!(orders.len(), accepted);
    assert!(orders.iter().any(|o| o.status == OrderStatus::Cancelled), "the mix cancels some orders");
    for product in products {
        let left = stock_of(&stores, product).await;
        assert!(left >= 0, "{left}");
        assert_eq!(left + units_held(&orders, product), INITIAL, "units of {product} are conserved");
    }
}

/// Asks for the same move twice at once.
async fn race(stores: &OrderStores, id: OrderId, to: OrderStatus) -> Vec<TransitionOutcome> {
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&stores.orders);
            tokio::spawn(async move { move_order(store.as_ref(), id, to, now()).await })
        })
        .collect();
    futures::future::join_all(tasks).await.into_iter().map(|t| t.unwrap().unwrap()).collect()
}

pub async fn two_racing_cancellations_move_the_order_once_and_give_the_stock_back_once(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 10).await;
    for round in 0..5 {
        let order = place_ok(&stores, buyer.id, &[(pen.id, 3)]).await;
        assert_eq!(stock_of(&stores, pen.id).await, 7);

        let outcomes = race(&stores, order.id, OrderStatus::Cancelled).await;

        let moved = outcomes.iter().filter(|o| matches!(o, TransitionOutcome::Moved(_))).count();
        assert_eq!(moved, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.contains(&TransitionOutcome::Refused { current: OrderStatus::Cancelled }), "round {round}");
        assert_eq!(stock_of(&stores, pen.id).await, 10, "round {round}: the stock came back exactly once");
    }
}

pub async fn two_racing_payments_move_the_order_exactly_once(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 10).await;
    let order = place_ok(&stores, buyer.id, &[(pen.id, 1)]).await;

    let outcomes = race(&stores, order.id, OrderStatus::Paid).await;

    assert_eq!(outcomes.iter().filter(|o| matches!(o, TransitionOutcome::Moved(_))).count(), 1, "{outcomes:?}");
    assert!(outcomes.contains(&TransitionOutcome::Refused { current: OrderStatus::Paid }), "{outcomes:?}");
    assert_eq!(stores.orders.get(order.id).await.unwrap().unwrap().status, OrderStatus::Paid);
}
