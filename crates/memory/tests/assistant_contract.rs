//! Runs the assistant's port contract (`storefront-contract`) against the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::AssistantStores;
use storefront_memory::MemoryStore;

/// A fresh, empty store per test; every port shares it, as they share one database.
async fn factory() -> AssistantStores {
    let store = MemoryStore::new();
    AssistantStores {
        users: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        conversations: Arc::new(store.clone()),
        products: Arc::new(store.clone()),
        summaries: Arc::new(store),
        guard: Box::new(()),
    }
}

storefront_contract::assistant_contract_tests!(factory);
