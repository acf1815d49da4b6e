//! Runs the account life cycle's port contract (`storefront-contract`) against PostgreSQL,
//! each test on a fresh database cloned from the migrated template.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::LifecycleStores;
use storefront_testkit::database::TestDatabase;

/// A fresh database per test; the guard drops it when the test ends.
async fn factory() -> LifecycleStores {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    LifecycleStores {
        users: Arc::new(store.clone()),
        sessions: Arc::new(store.clone()),
        audit: Arc::new(store.clone()),
        outbox: Arc::new(store.clone()),
        links: Arc::new(store.clone()),
        factors: Arc::new(store),
        guard: Box::new(database),
    }
}

storefront_contract::lifecycle_contract_tests!(factory);
