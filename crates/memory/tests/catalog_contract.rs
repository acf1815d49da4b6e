//! Runs the catalogue's port contract (`storefront-contract`) against the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::CatalogStores;
use storefront_memory::MemoryStore;

/// A fresh, empty store per test; every port shares it, as they share one database.
async fn factory() -> CatalogStores {
    let store = MemoryStore::new();
    CatalogStores {
        users: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        products: Arc::new(store.clone()),
        categories: Arc::new(store.clone()),
        reviews: Arc::new(store.clone()),
        audit: Arc::new(store),
        guard: Box::new(()),
    }
}

storefront_contract::catalog_contract_tests!(factory);
