//! The orders' contract tests, one module per area of `OrderRepository` (its unit of work,
//! and the service's units built on it) and `IdempotencyStore`. Each test takes fresh
//! `OrderStores`, uses only the ports (and the application's workflows over them), and
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
pub mod units;
