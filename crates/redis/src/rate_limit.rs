//! The Redis adapter of the `RateLimiter` port: fixed windows as keys with a TTL, counted
//! by one Lua script per hit (INCR, PEXPIRE on the first hit, PTTL), so a hit is atomic
//! and costs one round trip whatever the number of server instances. A script touches one
//! key, so it runs as it is on a Redis Cluster (on the node owning the key's slot).

use crate::connection::{RedisConnection, RedisError};
use async_trait::async_trait;
use std::time::Duration;
use storefront_app::ports::{RateLimitError, RateLimiter, WindowUsage};

/// Counts a hit. The window opens when the key has no TTL (it did not exist, so INCR made
/// it) and is never extended: a refund back to zero keeps the key and its TTL.
const HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// Takes back one hit within the current window; DECR keeps the key's TTL.
const REFUND: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
";

/// Rate-limit counters in Redis, shared by every instance using the same Redis and prefix.
#[derive(Clone)]
pub struct RedisRateLimiter {
    connection: RedisConnection,
    hit: redis::Script,
    refund: redis::Script,
}

impl RedisRateLimiter {
    /// Keys are `<prefix>rate_limit:<key>`.
    pub fn new(connection: RedisConnection) -> Self {
        Self { connection, hit: redis::Script::new(HIT), refund: redis::Script::new(REFUND) }
    }

    fn key(&self, key: &str) -> String {
        self.connection.key(&format!("rate_limit:{key}"))
    }
}

fn unavailable(error: RedisError) -> RateLimitError {
    RateLimitError::Unavailable(error.to_string())
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, window: Duration) -> Result<WindowUsage, RateLimitError> {
        let mut conn = self.connection.connection().await.map_err(unavailable)?;
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.hit.key(self.key(key));
        invocation.arg(window_ms);
        let (count, ttl_ms): (u64, i64) =
            self.connection.bounded(invocation.invoke_async(&mut conn)).await.map_err(unavailable)?;
        let resets_in = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(window_ms).clamp(1, window_ms));
        Ok(WindowUsage { count, resets_in })
    }

    async fn refund(&self, key: &str) -> Result<(), RateLimitError> {
        let mut conn = self.connection.connection().await.map_err(unavailable)?;
        let invocation = self.refund.key(self.key(key));
        let _: i64 = self.connection.bounded(invocation.invoke_async(&mut conn)).await.map_err(unavailable)?;
        Ok(())
    }
}
