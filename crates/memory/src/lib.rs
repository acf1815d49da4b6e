//! The in-memory adapter of the persistence ports: one `MemoryStore` holding users,
//! sessions, refresh tokens, role grants, the catalogue, orders, idempotency keys and the
//! event outbox behind a single lock, for `cargo run` without a database and for fast HTTP tests. Its semantics
//! match the PostgreSQL adapter's; the shared contract tests (`storefront-contract`) prove
//! it. Beside the store, the in-process adapters for one instance: `MemoryRateLimiter` and
//! `MokaAnalysisCache` (the text utilities' cache).
//!
//! Every port method takes the one lock once and never awaits while holding it, so each
//! method is atomic, as a database transaction would be; an orders' unit of work holds the
//! lock from `begin` to its end and applies its writes at once when it commits.

mod admin;
mod analysis_cache;
mod assistant;
mod catalog;
mod events;
mod lifecycle;
mod orders;
mod rate_limit;
mod records;
mod sessions;
mod store;
mod users;

pub use analysis_cache::{DEFAULT_CAPACITY_BYTES as DEFAULT_ANALYSIS_CACHE_BYTES, MokaAnalysisCache};
pub use rate_limit::MemoryRateLimiter;
pub use store::MemoryStore;
