//! The Redis adapters: a lazily connected, self-reconnecting connection shared by every
//! adapter here (`RedisConnection`), and the `RateLimiter` port on it, whose counters every
//! server instance pointed at the same Redis shares.

mod connection;
mod rate_limit;

pub use connection::{RedisConnection, RedisSettings};
pub use rate_limit::RedisRateLimiter;
