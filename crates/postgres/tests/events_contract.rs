//! Runs the events' port contract (`storefront-contract`) against PostgreSQL, each test on
//! a fresh database cloned from the migrated template.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::EventStores;
use storefront_testkit::database::TestDatabase;

/// A fresh database per test; the guard drops it when the test ends.
async fn factory() -> EventStores {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    EventStores {
        users: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        products: Arc::new(store.clone()),
        reviews: Arc::new(store.clone()),
        orders: Arc::new(store.clone()),
        outbox: Arc::new(store.clone()),
        dead_letters: Arc::new(store.clone()),
        processed: Arc::new(store),
        guard: Box::new(database),
    }
}

storefront_contract::events_contract_tests!(factory);
