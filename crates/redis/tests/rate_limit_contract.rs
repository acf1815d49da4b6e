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
