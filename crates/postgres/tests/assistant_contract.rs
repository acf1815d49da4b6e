//! Runs the assistant's port contract (`storefront-contract`) against PostgreSQL, each test
//! on a fresh database cloned from the migrated template.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::AssistantStores;
use storefront_testkit::database::TestDatabase;

/// A fresh database per test; the guard drops it when the test ends.
async fn factory() -> AssistantStores {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    AssistantStores {
        users: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        conversations: Arc::new(store.clone()),
        products: Arc::new(store.clone()),
        summaries: Arc::new(store),
        guard: Box::new(database),
    }
}

storefront_contract::assistant_contract_tests!(factory);
