//! Runs the events' port contract (`storefront-contract`) against the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::EventStores;
use storefront_memory::MemoryStore;

/// A fresh, empty store per test; every port shares it, as they share one database.
async fn factory() -> EventStores {
    let store = MemoryStore::new();
    EventStores {
        users: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        products: Arc::new(store.clone()),
        reviews: Arc::new(store.clone()),
        orders: Arc::new(store.clone()),
        outbox: Arc::new(store.clone()),
        dead_letters: Arc::new(store.clone()),
        processed: Arc::new(store),
        guard: Box::new(()),
    }
}

storefront_contract::events_contract_tests!(factory);
