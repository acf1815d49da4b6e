//! The Redis adapter of the `AnalysisCache` port: one string key per result, written with
//! `SET … PX` (the TTL in milliseconds, so a sub-second TTL is kept as asked), read with
//! `GET`. Every instance pointed at the same Redis and prefix shares the results.
//!
//! The key is `<prefix>ai_cache:{<hex digest>}`: the digest is its own hash tag, so on a
//! Redis Cluster the entries spread over every master by their digest (and a `{…}` in a
//! deployment's prefix does not pin them all to one slot; the first tag counts, and the
//! prefix comes first, so a prefix without braces is assumed, as for every adapter here).
//! Each command touches one key.

use crate::connection::{RedisConnection, RedisError};
use async_trait::async_trait;
use std::time::Duration;
use storefront_app::ports::{AnalysisCache, CacheError, CacheKey};

/// The text utilities' results in Redis.
#[derive(Clone)]
pub struct RedisAnalysisCache {
    connection: RedisConnection,
}

impl RedisAnalysisCache {
    pub fn new(connection: RedisConnection) -> Self {
        Self { connection }
    }

    /// `<prefix>ai_cache:{<hex>}`.
    pub fn key(&self, key: &CacheKey) -> String {
        self.connection.key(&format!("ai_cache:{{{}}}", key.to_hex()))
    }
}

fn unavailable(error: RedisError) -> CacheError {
    CacheError::Unavailable(error.to_string())
}

#[async_trait]
impl AnalysisCache for RedisAnalysisCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = self.connection.connection().await.map_err(unavailable)?;
        let mut get = redis::cmd("GET");
        get.arg(self.key(key));
        self.connection.bounded(get.query_async(&mut conn)).await.map_err(unavailable)
    }

    async fn put(&self, key: &CacheKey, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.connection.connection().await.map_err(unavailable)?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut set = redis::cmd("SET");
        set.arg(self.key(key)).arg(value).arg("PX").arg(ttl_ms);
        self.connection.bounded(set.query_async::<()>(&mut conn)).await.map_err(unavailable)
    }
}
