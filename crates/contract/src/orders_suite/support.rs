//! Test data builders shared by the orders' contract tests.

use crate::OrderStores;
use crate::catalog_suite::support::new_product;
pub use crate::catalog_suite::support::{LOW_STOCK, LOW_STOCK_RULE, all, page};
use crate::suite::support::new_user;
pub use crate::suite::support::now;
use chrono::{DateTime, Duration, Utc};
use storefront_app::catalog::stock_change_rule;
use storefront_app::orders::{move_order, place_order};
use storefront_app::ports::{NewOrder, NewProduct, NewUser, OrderFilter, ProductChanges, TransitionOutcome};
use storefront_domain::{
    Order, OrderId, OrderRequest, OrderStatus, PlacementError, PriceCents, Product, ProductId, RequestedLine, Stock,
    User, UserId,
};
use uuid::Uuid;

/// How long the tests keep an idempotency key's response.
pub const RETENTION: Duration = Duration::hours(24);

/// After how long the tests give up an idempotency key's unfinished request.
pub const ABANDON_AFTER: Duration = Duration::minutes(5);

pub async fn create_user(stores: &OrderStores, raw_email: &str) -> User {
    stores.users.create(new_user(raw_email)).await.unwrap()
}

pub async fn create_user_at(stores: &OrderStores, raw_email: &str, created_at: DateTime<Utc>) -> User {
    stores.users.create(NewUser { created_at, ..new_user(raw_email) }).await.unwrap()
}

/// A product of `owner` named `name` at `price_cents` with `stock` units.
pub fn new_stocked_product(owner: UserId, name: &str, price_cents: i64, stock: i64) -> NewProduct {
    NewProduct {
        price: PriceCents::parse(price_cents).unwrap(),
        stock: Stock::parse(stock).unwrap(),
        ..new_product(owner, name)
    }
}

pub async fn create_product(stores: &OrderStores, owner: UserId, name: &str, price_cents: i64, stock: i64) -> Product {
    stores.products.create(new_stocked_product(owner, name, price_cents, stock)).await.unwrap()
}

/// An order request for `(product, quantity)` lines, in that order.
pub fn request(lines: &[(ProductId, i64)]) -> OrderRequest {
    OrderRequest::parse(lines.iter().map(|&(product_id, quantity)| RequestedLine { product_id, quantity }).collect())
        .unwrap()
}

/// A new order of `user` for `lines`, created now.
pub fn new_order(user: UserId, lines: &[(ProductId, i64)]) -> NewOrder {
    new_order_at(user, lines, now())
}

pub fn new_order_at(user: UserId, lines: &[(ProductId, i64)], created_at: DateTime<Utc>) -> NewOrder {
    NewOrder { id: OrderId(Uuid::now_v7()), user_id: user, request: request(lines), created_at }
}

/// Places an order of `user` for `lines`; the store itself must not fail.
pub async fn place(stores: &OrderStores, user: UserId, lines: &[(ProductId, i64)]) -> Result<Order, PlacementError> {
    place_order(stores.orders.as_ref(), &new_order(user, lines), LOW_STOCK_RULE).await.unwrap()
}

/// Places an order that must be accepted.
pub async fn place_ok(stores: &OrderStores, user: UserId, lines: &[(ProductId, i64)]) -> Order {
    place(stores, user, lines).await.unwrap()
}

/// Places an order created at `created_at` that must be accepted.
pub async fn place_at(
    stores: &OrderStores,
    user: UserId,
    lines: &[(ProductId, i64)],
    created_at: DateTime<Utc>,
) -> Order {
    place_order(stores.orders.as_ref(), &new_order_at(user, lines, created_at), LOW_STOCK_RULE).await.unwrap().unwrap()
}

/// Asks for a move; the store itself must not fail.
pub async fn transition(stores: &OrderStores, id: OrderId, to: OrderStatus) -> TransitionOutcome {
    move_order(stores.orders.as_ref(), id, to, now()).await.unwrap()
}

/// Moves an order along `path`, each move required to succeed; returns it as last moved.
pub async fn move_along(stores: &OrderStores, id: OrderId, path: &[OrderStatus]) -> Order {
    let mut moved = stores.orders.get(id).await.unwrap().unwrap();
    for &to in path {
        match transition(stores, id, to).await {
            TransitionOutcome::Moved(order) => moved = order,
            refused => panic!("moving {id} to {to:?}: {refused:?}"),
        }
    }
    moved
}

/// The product's stock now; it must exist.
pub async fn stock_of(stores: &OrderStores, product: ProductId) -> i64 {
    stores.products.get(product, None).await.unwrap().unwrap().stock
}

/// Changes a product's stock.
pub async fn set_stock(stores: &OrderStores, product: ProductId, units: i64) {
    let changes = ProductChanges { stock: Some(Stock::parse(units).unwrap()), ..Default::default() };
    stores.products.update(product, changes, now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
}

/// Every order, newest first (at most 100).
pub async fn every_order(stores: &OrderStores) -> Vec<Order> {
    let listed = stores.orders.list(OrderFilter::default(), all()).await.unwrap();
    assert!(listed.total <= 100, "the tests list at most one page of orders");
    listed.items
}

/// Units of `product` in orders that are not cancelled.
pub fn units_held(orders: &[Order], product: ProductId) -> i64 {
    orders
        .iter()
        .filter(|o| o.status != OrderStatus::Cancelled)
        .flat_map(|o| &o.items)
        .filter(|line| line.product_id == product)
        .map(|line| line.quantity)
        .sum()
}

/// `n` fresh product ids in increasing order.
pub fn ascending_ids(n: usize) -> Vec<ProductId> {
    let mut ids: Vec<ProductId> = (0..n).map(|_| ProductId(Uuid::now_v7())).collect();
    ids.sort();
    ids
}

/// A small deterministic generator (Knuth's MMIX LCG), so that a failure replays.
#[derive(Debug, Clone, Copy)]
pub struct Lcg(pub u64);

impl Lcg {
    pub fn step(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.step() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}
