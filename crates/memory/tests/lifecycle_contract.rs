//! Runs the account life cycle's port contract (`storefront-contract`) against the
//! in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::LifecycleStores;
use storefront_memory::MemoryStore;

/// A fresh, empty store per test; every port shares it, as they share one database.
async fn factory() -> LifecycleStores {
    let store = MemoryStore::new();
    LifecycleStores {
        users: Arc::new(store.clone()),
        sessions: Arc::new(store.clone()),
        audit: Arc::new(store.clone()),
        outbox: Arc::new(store.clone()),
        links: Arc::new(store.clone()),
        factors: Arc::new(store),
        guard: Box::new(()),
    }
}

storefront_contract::lifecycle_contract_tests!(factory);
