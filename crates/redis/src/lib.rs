//! The Redis adapters: a lazily connected, self-reconnecting connection to a single Redis
//! or a Redis Cluster, shared by every adapter here (`RedisConnection`); the `RateLimiter` port on it, whose counters every
//! server instance pointed at the same Redis shares; and the event stream (`EventPublisher`,
//! `EventQueue`, `DeadLetters`) the relay and the workers share; and the text utilities'
//! cache (`RedisAnalysisCache`).

mod analysis_cache;
mod connection;
mod events;
mod rate_limit;

pub use analysis_cache::RedisAnalysisCache;
pub use connection::{RedisConn, RedisConnection, RedisError, RedisSettings};
pub use events::{RedisEventStream, StreamNames, stream_key};
pub use rate_limit::RedisRateLimiter;
