//! Runs the `RateLimiter` port's contract (`storefront-contract`) against Redis at
//! `REDIS_URL` (default `redis://127.0.0.1:6379`), each test under a key prefix of its
//! own; and shows what the limiter does when Redis cannot be reached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use storefront_app::ports::{RateLimitError, RateLimiter};
use storefront_redis::{RedisConnection, RedisRateLimiter, RedisSettings};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A limiter whose keys no other test (or test run) shares; they expire by themselves.
async fn factory() -> Arc<dyn RateLimiter> {
    let mut settings = RedisSettings::new(redis_url());
    settings.key_prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
    Arc::new(RedisRateLimiter::new(RedisConnection::new(settings).unwrap()))
}

storefront_contract::rate_limit_contract_tests!(factory);

#[tokio::test]
async fn an_unreachable_redis_is_reported_as_unavailable_within_the_timeout() {
    // Port 1 on loopback: nothing listens there.
    let mut settings = RedisSettings::new("redis://127.0.0.1:1");
    settings.timeout = Duration::from_millis(300);
    let limiter = RedisRateLimiter::new(RedisConnection::new(settings).unwrap());
    let started = Instant::now();
    let outcome = limiter.hit("a", Duration::from_secs(60)).await;
    assert!(matches!(outcome, Err(RateLimitError::Unavailable(_))), "{outcome:?}");
    assert!(matches!(limiter.refund("a").await, Err(RateLimitError::Unavailable(_))));
    // Generous: the contract is "bounded", not a number.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn a_url_redis_cannot_use_is_refused_up_front() {
    assert!(RedisConnection::new(RedisSettings::new("not a url")).is_err());
}

/// The same contract on a three-master Redis Cluster started by this test binary on
/// loopback ports (shared by the tests running at the same time, stopped after the last).
mod on_redis_cluster {
    use async_trait::async_trait;
    use std::sync::Arc;
    use std::time::Duration;
    use storefront_app::ports::{RateLimitError, RateLimiter, WindowUsage};
    use storefront_redis::{RedisConnection, RedisRateLimiter, RedisSettings};
    use storefront_testkit::redis::RedisCluster;

    /// A limiter that keeps the cluster running while a test holds it.
    struct OnCluster {
        limiter: RedisRateLimiter,
        _cluster: Arc<RedisCluster>,
    }

    #[async_trait]
    impl RateLimiter for OnCluster {
        async fn hit(&self, key: &str, window: Duration) -> Result<WindowUsage, RateLimitError> {
            self.limiter.hit(key, window).await
        }

        async fn refund(&self, key: &str) -> Result<(), RateLimitError> {
            self.limiter.refund(key).await
        }
    }

    async fn on_cluster(prefix: &str) -> OnCluster {
        let cluster = tokio::task::spawn_blocking(RedisCluster::shared).await.unwrap();
        let mut settings = RedisSettings::cluster(cluster.urls());
        settings.key_prefix = prefix.to_owned();
        OnCluster { limiter: RedisRateLimiter::new(RedisConnection::new(settings).unwrap()), _cluster: cluster }
    }

    async fn factory() -> Arc<dyn RateLimiter> {
        Arc::new(on_cluster(&format!("storefront-test:{}:", uuid::Uuid::new_v4().simple())).await)
    }

    storefront_contract::rate_limit_contract_tests!(factory);

    /// The cluster is really used as one: counters of many keys land on every master (the
    /// client follows the slots), and each is counted where it lives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counters_spread_over_every_master_and_each_counts_once() {
        let prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
        let limiter = on_cluster(&prefix).await;
        for i in 0..60 {
            let key = format!("login_per_ip:10.0.0.{i}");
            assert_eq!(limiter.hit(&key, Duration::from_secs(60)).await.unwrap().count, 1);
            assert_eq!(limiter.hit(&key, Duration::from_secs(60)).await.unwrap().count, 2);
        }
        let mut per_node = Vec::new();
        for port in &limiter._cluster.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
            per_node.push(keys.len());
            for key in keys {
                let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
            }
        }
        assert_eq!(per_node.iter().sum::<usize>(), 60, "{per_node:?}");
        assert!(per_node.iter().all(|n| *n > 0), "every master holds some counters: {per_node:?}");
    }
}
