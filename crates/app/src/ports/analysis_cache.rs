//! The text utilities' cache port: opaque bytes under a 32-byte key (a SHA-256 digest the
//! application computes), each entry with its own time to live. In process (bounded) for
//! one instance, in Redis when several share it; both keep the contract suite in
//! `storefront-contract`.

use async_trait::async_trait;
use std::time::Duration;

/// The key of a cached result: a SHA-256 digest (see `CachedTextAnalysis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// Lower-case hex, as Redis keys and logs show it.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The cache cannot be reached or did not answer in time.
    #[error("analysis cache unavailable: {0}")]
    Unavailable(String),
}

/// Results by key, each for its own time.
#[async_trait]
pub trait AnalysisCache: Send + Sync {
    /// The bytes last put under `key`, if their time to live has not run out.
    ///
    /// MUST return `None` for a key never put and for one whose TTL has passed.
    ///
    /// # Errors
    /// `Unavailable` when the cache cannot be reached.
    async fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, CacheError>;

    /// Stores `value` under `key` for `ttl` (positive), replacing what was there and its
    /// TTL. An in-process cache MAY evict entries early to stay within its bound.
    ///
    /// # Errors
    /// `Unavailable` when the cache cannot be reached.
    async fn put(&self, key: &CacheKey, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
}
