//! One contract-test suite for the persistence ports, written once and run against every
//! adapter (memory and PostgreSQL). An adapter's test file calls
//! `storefront_contract::contract_tests!(factory);` where `factory` is an
//! `async fn() -> storefront_contract::Stores` giving fresh, empty stores for one test.

use std::any::Any;
use std::sync::Arc;
use storefront_app::ports::{SessionRepository, UserRepository};

/// The ports of one adapter, fresh and empty, for one test.
pub struct Stores {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    /// Keeps whatever backs the stores alive for the test (e.g. a per-test database).
    pub guard: Box<dyn Any + Send + Sync>,
}

pub mod suite;

/// Expands to one `#[tokio::test]` per contract test, each calling `$factory().await`.
#[macro_export]
macro_rules! contract_tests {
    ($factory:path) => {
        $crate::__contract_tests_list!($factory);
    };
}
