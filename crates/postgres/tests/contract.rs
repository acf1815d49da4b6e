//! Runs the shared port contract (`storefront-contract`) against PostgreSQL, each test on
//! a fresh database cloned from the migrated template.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::Stores;
use storefront_testkit::database::TestDatabase;

/// A fresh database per test; the guard drops it when the test ends.
async fn factory() -> Stores {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    Stores {
        users: Arc::new(store.clone()),
        sessions: Arc::new(store.clone()),
        roles: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        audit: Arc::new(store),
        guard: Box::new(database),
    }
}

storefront_contract::contract_tests!(factory);
