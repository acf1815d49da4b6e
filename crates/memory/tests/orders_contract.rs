//! Runs the orders' port contract (`storefront-contract`) against the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::OrderStores;
use storefront_memory::MemoryStore;

/// A fresh, empty store per test; every port shares it, as they share one database.
async fn factory() -> OrderStores {
    let store = MemoryStore::new();
    OrderStores {
        users: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        products: Arc::new(store.clone()),
        categories: Arc::new(store.clone()),
        reviews: Arc::new(store.clone()),
        orders: Arc::new(store.clone()),
        idempotency: Arc::new(store),
        guard: Box::new(()),
    }
}

storefront_contract::orders_contract_tests!(factory);
