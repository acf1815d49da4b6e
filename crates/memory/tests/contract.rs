//! Runs the shared port contract (`storefront-contract`) against the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::Stores;
use storefront_memory::MemoryStore;

/// A fresh, empty store per test; every port shares it, as they share one database.
async fn factory() -> Stores {
    let store = MemoryStore::new();
    Stores {
        users: Arc::new(store.clone()),
        sessions: Arc::new(store.clone()),
        roles: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        audit: Arc::new(store),
        guard: Box::new(()),
    }
}

storefront_contract::contract_tests!(factory);
