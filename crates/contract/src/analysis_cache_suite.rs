//! The `AnalysisCache` port's contract, run against the in-process (moka) and the Redis
//! adapter: `analysis_cache_contract_tests!(factory)` with `factory` an
//! `async fn() -> Arc<dyn AnalysisCache>` giving a cache whose keys no other test sees.
//!
//! TTLs that must not run out during a test are a minute long; TTLs that must run out are
//! a fraction of a second, and the test waits well past them.

use std::sync::Arc;
use std::time::Duration;
use storefront_app::ports::{AnalysisCache, CacheKey};

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(300);

/// Expands to one test per cache contract test, each on its own two-worker multi-thread
/// tokio runtime and calling `$factory().await` for a fresh cache.
#[macro_export]
macro_rules! analysis_cache_contract_tests {
    ($factory:path) => {
        $crate::__analysis_cache_contract_tests_each! { $factory;
            a_key_never_put_is_a_miss,
            what_is_put_is_got_back_byte_for_byte,
            keys_are_kept_apart,
            a_put_replaces_the_value_under_its_key,
            an_entry_is_gone_once_its_ttl_has_passed,
            an_overwrite_starts_the_new_ttl,
            each_entry_keeps_its_own_ttl,
            an_empty_value_is_a_value,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __analysis_cache_contract_tests_each {
    ($factory:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async { $crate::analysis_cache_suite::$name($factory().await).await });
            }
        )*
    };
}

fn key(n: u8) -> CacheKey {
    let mut bytes = [0u8; 32];
    bytes[0] = n;
    bytes[31] = n.wrapping_mul(7);
    CacheKey(bytes)
}

pub async fn a_key_never_put_is_a_miss(cache: Arc<dyn AnalysisCache>) {
    assert_eq!(cache.get(&key(1)).await.unwrap(), None);
}

pub async fn what_is_put_is_got_back_byte_for_byte(cache: Arc<dyn AnalysisCache>) {
    // Not UTF-8 on purpose: the port stores bytes.
    let value = [0u8, 159, 146, 150, b'{', b'}', 255];
    cache.put(&key(1), &value, LONG).await.unwrap();
    assert_eq!(cache.get(&key(1)).await.unwrap().as_deref(), Some(&value[..]));
    // Reading does not consume it.
    assert_eq!(cache.get(&key(1)).await.unwrap().as_deref(), Some(&value[..]));
}

pub async fn keys_are_kept_apart(cache: Arc<dyn AnalysisCache>) {
    cache.put(&key(1), b"one", LONG).await.unwrap();
    cache.put(&key(2), b"two", LONG).await.unwrap();
    assert_eq!(cache.get(&key(1)).await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(cache.get(&key(2)).await.unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(cache.get(&key(3)).await.unwrap(), None);
}

pub async fn a_put_replaces_the_value_under_its_key(cache: Arc<dyn AnalysisCache>) {
    cache.put(&key(1), b"first", LONG).await.unwrap();
    cache.put(&key(1), b"second, longer", LONG).await.unwrap();
    assert_eq!(cache.get(&key(1)).await.unwrap().as_deref(), Some(&b"second, longer"[..]));
}

pub async fn an_entry_is_gone_once_its_ttl_has_passed(cache: Arc<dyn AnalysisCache>) {
    cache.put(&key(1), b"brief", SHORT).await.unwrap();
    assert_eq!(cache.get(&key(1)).await.unwrap().as_deref(), Some(&b"brief"[..]), "still there before its TTL");
    tokio::time::sleep(SHORT * 3).await;
    assert_eq!(cache.get(&key(1)).await.unwrap(), None);
}

pub async fn an_overwrite_starts_the_new_ttl(cache: Arc<dyn AnalysisCache>) {
    // Short, then long: the entry outlives the first TTL.
    cache.put(&key(1), b"short", SHORT).await.unwrap();
    cache.put(&key(1), b"long", LONG).await.unwrap();
    tokio::time::sleep(SHORT * 3).await;
    assert_eq!(cache.get(&key(1)).await.unwrap().as_deref(), Some(&b"long"[..]));
    // Long, then short: the entry ends with the second.
    cache.put(&key(2), b"long", LONG).await.unwrap();
    cache.put(&key(2), b"short", SHORT).await.unwrap();
    tokio::time::sleep(SHORT * 3).await;
    assert_eq!(cache.get(&key(2)).await.unwrap(), None);
}

pub async fn each_entry_keeps_its_own_ttl(cache: Arc<dyn AnalysisCache>) {
    cache.put(&key(1), b"brief", SHORT).await.unwrap();
    cache.put(&key(2), b"lasting", LONG).await.unwrap();
    tokio::time::sleep(SHORT * 3).await;
    assert_eq!(cache.get(&key(1)).await.unwrap(), None);
    assert_eq!(cache.get(&key(2)).await.unwrap().as_deref(), Some(&b"lasting"[..]));
}

pub async fn an_empty_value_is_a_value(cache: Arc<dyn AnalysisCache>) {
    cache.put(&key(1), b"", LONG).await.unwrap();
    assert_eq!(cache.get(&key(1)).await.unwrap().as_deref(), Some(&b""[..]));
}

#[cfg(test)]
mod tests {
    /// The macro's list and the functions above must agree, or a test would silently not run.
    #[test]
    fn the_macro_lists_every_analysis_cache_contract_test_exactly_once() {
        let source = include_str!("analysis_cache_suite.rs");
        let mut written: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .filter_map(|l| l.split('(').next())
            .collect();
        let start = source.find("__analysis_cache_contract_tests_each! { $factory;").unwrap();
        let end = start + source[start..].find('}').unwrap();
        let mut listed: Vec<&str> = source[start..end]
            .lines()
            .skip(1)
            .map(|l| l.trim().trim_end_matches(','))
            .filter(|l| !l.is_empty())
            .collect();
        written.sort_unstable();
        listed.sort_unstable();
        assert_eq!(written, listed);
        assert!(written.len() >= 8);
    }
}
