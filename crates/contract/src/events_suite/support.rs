//! Test data builders shared by the events' contract tests.

use crate::EventStores;
use crate::catalog_suite::support::new_product;
pub use crate::catalog_suite::support::{ALERT_WINDOW, LOW_STOCK, LOW_STOCK_RULE, all};
use crate::orders_suite::support::{new_order, new_order_at, new_stocked_product};
use crate::suite::support::new_user;
pub use crate::suite::support::now;
use chrono::{DateTime, Utc};
use storefront_app::catalog::stock_change_rule;
use storefront_app::orders::place_order;
use storefront_app::ports::ProductChanges;
use storefront_domain::{DomainEvent, EventType, Order, PlacementError, Product, ProductId, Stock, User, UserId};

pub async fn create_user(stores: &EventStores, raw_email: &str) -> User {
    stores.users.create(new_user(raw_email)).await.unwrap()
}

pub async fn create_product(stores: &EventStores, owner: UserId, name: &str, stock: i64) -> Product {
    stores.products.create(new_stocked_product(owner, name, 100, stock)).await.unwrap()
}

pub async fn place(stores: &EventStores, user: UserId, lines: &[(ProductId, i64)]) -> Result<Order, PlacementError> {
    place_order(stores.orders.as_ref(), &new_order(user, lines), LOW_STOCK_RULE).await.unwrap()
}

/// Sets a product's stock as its owner would at `at`.
pub async fn set_stock_at(stores: &EventStores, product: ProductId, units: i64, at: DateTime<Utc>) {
    let changes = ProductChanges { stock: Some(Stock::parse(units).unwrap()), ..Default::default() };
    stores.products.update(product, changes, at, &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
}

/// Places an order of `user` for `lines` at `at`.
pub async fn place_at(
    stores: &EventStores,
    user: UserId,
    lines: &[(ProductId, i64)],
    at: DateTime<Utc>,
) -> Result<Order, PlacementError> {
    place_order(stores.orders.as_ref(), &new_order_at(user, lines, at), LOW_STOCK_RULE).await.unwrap()
}

/// Every event in the outbox, in the order written.
pub async fn outbox(stores: &EventStores) -> Vec<DomainEvent> {
    let page = stores.outbox.events(all()).await.unwrap();
    assert!(page.total <= 100, "the tests write at most one page of events");
    page.items
}

/// The events written after the first `skip`.
pub async fn written_since(stores: &EventStores, skip: usize) -> Vec<DomainEvent> {
    outbox(stores).await.into_iter().skip(skip).collect()
}

pub fn types(events: &[DomainEvent]) -> Vec<EventType> {
    events.iter().map(|e| e.event_type).collect()
}

/// A product that is not the subject of the test, with plenty of stock.
pub fn plenty(owner: UserId) -> storefront_app::ports::NewProduct {
    storefront_app::ports::NewProduct { stock: Stock::parse(1_000).unwrap(), ..new_product(owner, "Plenty") }
}
