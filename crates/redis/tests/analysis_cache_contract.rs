//! Runs the `AnalysisCache` port's contract (`storefront-contract`) against Redis at
//! `REDIS_URL` (default `redis://127.0.0.1:6379`) and against a three-master Redis
//! Cluster, each test under a key prefix of its own; and shows what the cache does when
//! Redis cannot be reached (an error, within the timeout: the caching decorator turns it
//! into a MISS).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use storefront_app::ports::{AnalysisCache, CacheError, CacheKey};
use storefront_redis::{RedisAnalysisCache, RedisConnection, RedisSettings};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A cache whose keys no other test (or test run) shares; they expire by themselves.
async fn factory() -> Arc<dyn AnalysisCache> {
    let mut settings = RedisSettings::new(redis_url());
    settings.key_prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
    Arc::new(RedisAnalysisCache::new(RedisConnection::new(settings).unwrap()))
}

storefront_contract::analysis_cache_contract_tests!(factory);

#[tokio::test]
async fn an_unreachable_redis_is_reported_as_unavailable_within_the_timeout() {
    // Port 1 on loopback: nothing listens there.
    let mut settings = RedisSettings::new("redis://127.0.0.1:1");
    settings.timeout = Duration::from_millis(300);
    let cache = RedisAnalysisCache::new(RedisConnection::new(settings).unwrap());
    let started = Instant::now();
    let key = CacheKey([7; 32]);
    assert!(matches!(cache.get(&key).await, Err(CacheError::Unavailable(_))));
    assert!(matches!(cache.put(&key, b"x", Duration::from_secs(60)).await, Err(CacheError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn entries_are_string_keys_with_their_digest_as_hash_tag_and_a_ttl() {
    let prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
    let mut settings = RedisSettings::new(redis_url());
    settings.key_prefix = prefix.clone();
    let cache = RedisAnalysisCache::new(RedisConnection::new(settings).unwrap());
    let key = CacheKey([0xab; 32]);
    cache.put(&key, b"{}", Duration::from_secs(1800)).await.unwrap();
    let name = format!("{prefix}ai_cache:{{{}}}", "ab".repeat(32));
    assert_eq!(cache.key(&key), name);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&name).query_async(&mut conn).await.unwrap();
    assert!((1790..=1800).contains(&ttl), "{ttl}");
    let _: () = redis::cmd("DEL").arg(&name).query_async(&mut conn).await.unwrap();
}

/// The same contract on a three-master Redis Cluster started by this test binary on
/// loopback ports (shared by the tests running at the same time, stopped after the last).
mod on_redis_cluster {
    use async_trait::async_trait;
    use std::sync::Arc;
    use std::time::Duration;
    use storefront_app::ports::{AnalysisCache, CacheError, CacheKey};
    use storefront_redis::{RedisAnalysisCache, RedisConnection, RedisSettings};
    use storefront_testkit::redis::RedisCluster;

    /// A cache that keeps the cluster running while a test holds it.
    struct OnCluster {
        cache: RedisAnalysisCache,
        cluster: Arc<RedisCluster>,
    }

    #[async_trait]
    impl AnalysisCache for OnCluster {
        async fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, CacheError> {
            self.cache.get(key).await
        }

        async fn put(&self, key: &CacheKey, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
            self.cache.put(key, value, ttl).await
        }
    }

    async fn on_cluster(prefix: &str) -> OnCluster {
        let cluster = tokio::task::spawn_blocking(RedisCluster::shared).await.unwrap();
        let mut settings = RedisSettings::cluster(cluster.urls());
        settings.key_prefix = prefix.to_owned();
        OnCluster { cache: RedisAnalysisCache::new(RedisConnection::new(settings).unwrap()), cluster }
    }

    async fn factory() -> Arc<dyn AnalysisCache> {
        Arc::new(on_cluster(&format!("storefront-test:{}:", uuid::Uuid::new_v4().simple())).await)
    }

    storefront_contract::analysis_cache_contract_tests!(factory);

    /// The digest is the hash tag: entries spread over every master, and each is read
    /// back from where it lives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_spread_over_every_master() {
        let prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
        let cache = on_cluster(&prefix).await;
        for n in 0..60u8 {
            let key = CacheKey([n; 32]);
            cache.put(&key, &[n], Duration::from_secs(60)).await.unwrap();
            assert_eq!(cache.get(&key).await.unwrap(), Some(vec![n]));
        }
        let mut per_node = Vec::new();
        for port in &cache.cluster.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
            per_node.push(keys.len());
            for key in keys {
                let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
            }
        }
        assert_eq!(per_node.iter().sum::<usize>(), 60, "{per_node:?}");
        assert!(per_node.iter().all(|n| *n > 0), "every master holds some entries: {per_node:?}");
    }
}
