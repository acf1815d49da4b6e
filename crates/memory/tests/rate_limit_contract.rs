//! Runs the `RateLimiter` port's contract (`storefront-contract`) against the in-process limiter.

use std::sync::Arc;
use storefront_app::ports::RateLimiter;
use storefront_memory::MemoryRateLimiter;

/// A fresh table per test: no other test sees its keys.
async fn factory() -> Arc<dyn RateLimiter> {
    Arc::new(MemoryRateLimiter::new())
}

storefront_contract::rate_limit_contract_tests!(factory);
