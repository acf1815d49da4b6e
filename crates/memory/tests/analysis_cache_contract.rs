//! Runs the `AnalysisCache` port's contract (`storefront-contract`) against the moka
//! adapter, and shows that it keeps within its bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use storefront_app::ports::{AnalysisCache, CacheKey};
use storefront_memory::MokaAnalysisCache;

/// A fresh cache per test: no other test sees its keys.
async fn factory() -> Arc<dyn AnalysisCache> {
    Arc::new(MokaAnalysisCache::default())
}

storefront_contract::analysis_cache_contract_tests!(factory);

#[tokio::test]
async fn a_full_cache_evicts_to_stay_within_its_bound() {
    // Room for about ten 1 KiB entries; a hundred are put.
    let cache = MokaAnalysisCache::new(10 * 1_200);
    for n in 0..100u8 {
        let mut key = [0u8; 32];
        key[0] = n;
        cache.put(&CacheKey(key), &[n; 1024], Duration::from_secs(60)).await.unwrap();
    }
    cache.run_pending_tasks().await;
    assert!(cache.entry_count() <= 10, "{} entries", cache.entry_count());
    let mut kept = 0;
    for n in 0..100u8 {
        let mut key = [0u8; 32];
        key[0] = n;
        if cache.get(&CacheKey(key)).await.unwrap().is_some() {
            kept += 1;
        }
    }
    assert!(kept <= 10, "kept {kept} entries of 1 KiB in 12 KB");
    assert!(kept > 0, "a bounded cache still keeps what fits");
}
