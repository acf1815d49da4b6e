//! Runs the catalogue's port contract (`storefront-contract`) against PostgreSQL, each
//! test on a fresh database cloned from the migrated template.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use storefront_contract::CatalogStores;
use storefront_testkit::database::TestDatabase;

/// A fresh database per test; the guard drops it when the test ends.
async fn factory() -> CatalogStores {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    CatalogStores {
        users: Arc::new(store.clone()),
        user_admin: Arc::new(store.clone()),
        products: Arc::new(store.clone()),
        categories: Arc::new(store.clone()),
        reviews: Arc::new(store.clone()),
        audit: Arc::new(store),
        guard: Box::new(database),
    }
}

storefront_contract::catalog_contract_tests!(factory);
