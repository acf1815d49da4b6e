//! The in-process adapter of the `AnalysisCache` port: a `moka` future cache, bounded by
//! the bytes it holds (a weigher counts each entry's value and key), each entry expiring
//! after its own TTL (an `Expiry` reads it from the entry; an overwrite starts the new
//! TTL). For one server instance; several share the Redis adapter. Both keep the contract
//! suite in `storefront-contract`.
//!
//! moka rather than a hand-written map: it evicts by frequency and recency (TinyLFU)
//! within the bound, expires entries on a timer wheel without a sweep of ours, and is
//! safe to call from many tasks at once without one lock.

use async_trait::async_trait;
use moka::Expiry;
use moka::future::Cache;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storefront_app::ports::{AnalysisCache, CacheError, CacheKey};

/// The default bound: 64 MiB of cached results.
pub const DEFAULT_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// What an entry costs besides its value (its key and moka's bookkeeping, roughly).
const ENTRY_OVERHEAD_BYTES: usize = 96;

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

/// Each entry lives for the TTL it was put with, counted from its last put.
struct PerEntryTtl;

impl Expiry<[u8; 32], Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &[u8; 32], entry: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &[u8; 32],
        entry: &Entry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Cached results in this process's memory; clones share them.
#[derive(Clone)]
pub struct MokaAnalysisCache {
    cache: Cache<[u8; 32], Entry>,
}

impl MokaAnalysisCache {
    /// A cache holding at most about `capacity_bytes` of results (values and keys).
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|_key: &[u8; 32], entry: &Entry| {
                u32::try_from(entry.value.len() + ENTRY_OVERHEAD_BYTES).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { cache }
    }

    /// How many entries it holds (moka counts lazily: expired or evicted entries may still
    /// count until its next maintenance).
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Runs moka's pending maintenance now (evictions over the bound, expirations), which
    /// it otherwise runs as it goes.
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }
}

impl Default for MokaAnalysisCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY_BYTES)
    }
}

#[async_trait]
impl AnalysisCache for MokaAnalysisCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.cache.get(&key.0).await.map(|entry| entry.value.to_vec()))
    }

    async fn put(&self, key: &CacheKey, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.cache.insert(key.0, Entry { value: Arc::from(value), ttl }).await;
        Ok(())
    }
}
