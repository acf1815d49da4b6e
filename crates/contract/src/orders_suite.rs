//! The orders' contract tests, one module per area of `OrderRepository` and
//! `IdempotencyStore`. Each test takes fresh `OrderStores`, uses only the ports, and
//! asserts what the ports' doc comments and the domain's rules promise.

pub mod concurrency;
pub mod deletion;
pub mod idempotency;
pub mod lifecycle;
pub mod listing;
pub mod placing;
pub mod purchases;
pub mod stats;
pub mod support;
