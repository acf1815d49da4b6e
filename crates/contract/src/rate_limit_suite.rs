//! The `RateLimiter` port's contract, run against the in-process and the Redis adapter:
//! `rate_limit_contract_tests!(factory)` with `factory` an
//! `async fn() -> Arc<dyn RateLimiter>` giving a limiter whose keys no other test sees.
//!
//! Windows that must not end during a test are a minute long; windows that must end are a
//! fraction of a second, and the test waits well past them, so no assertion depends on
//! how fast the machine is.

use std::sync::Arc;
use std::time::Duration;
use storefront_app::ports::RateLimiter;

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(200);

/// Expands to one test per rate-limiter contract test, each on its own two-worker
/// multi-thread tokio runtime and calling `$factory().await` for a fresh limiter.
#[macro_export]
macro_rules! rate_limit_contract_tests {
    ($factory:path) => {
        $crate::__rate_limit_contract_tests_each! { $factory;
            the_first_hit_on_a_key_counts_one_and_opens_a_window,
            hits_within_a_window_count_up,
            keys_count_separately,
            later_hits_do_not_extend_the_window,
            once_the_window_has_ended_the_key_counts_from_one_again,
            concurrent_hits_are_each_counted_once,
            a_refund_takes_back_one_hit,
            a_refund_never_brings_the_count_below_zero,
            a_refund_on_a_key_without_a_window_does_nothing,
            a_refund_keeps_the_end_of_the_window,
            a_refund_after_the_window_has_ended_does_not_reach_the_next_one,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rate_limit_contract_tests_each {
    ($factory:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::__run_contract_test(async { $crate::rate_limit_suite::$name($factory().await).await });
            }
        )*
    };
}

pub async fn the_first_hit_on_a_key_counts_one_and_opens_a_window(limiter: Arc<dyn RateLimiter>) {
    let usage = limiter.hit("a", LONG).await.unwrap();
    assert_eq!(usage.count, 1);
    assert!(usage.resets_in > Duration::ZERO && usage.resets_in <= LONG, "{usage:?}");
}

pub async fn hits_within_a_window_count_up(limiter: Arc<dyn RateLimiter>) {
    for expected in 1..=5 {
        assert_eq!(limiter.hit("a", LONG).await.unwrap().count, expected);
    }
}

pub async fn keys_count_separately(limiter: Arc<dyn RateLimiter>) {
    limiter.hit("a", LONG).await.unwrap();
    limiter.hit("a", LONG).await.unwrap();
    assert_eq!(limiter.hit("b", LONG).await.unwrap().count, 1);
    assert_eq!(limiter.hit("a:b", LONG).await.unwrap().count, 1);
    assert_eq!(limiter.hit("a", LONG).await.unwrap().count, 3);
}

pub async fn later_hits_do_not_extend_the_window(limiter: Arc<dyn RateLimiter>) {
    let first = limiter.hit("a", LONG).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Even with a longer window asked for: the window is fixed when it opens.
    let later = limiter.hit("a", LONG * 2).await.unwrap();
    assert_eq!(later.count, 2);
    assert!(later.resets_in <= first.resets_in, "{first:?} then {later:?}");
}

pub async fn once_the_window_has_ended_the_key_counts_from_one_again(limiter: Arc<dyn RateLimiter>) {
    for _ in 0..3 {
        limiter.hit("a", SHORT).await.unwrap();
    }
    tokio::time::sleep(SHORT * 3).await;
    let usage = limiter.hit("a", LONG).await.unwrap();
    assert_eq!(usage.count, 1);
    assert!(usage.resets_in > SHORT, "the new window is the one asked for now: {usage:?}");
}

pub async fn concurrent_hits_are_each_counted_once(limiter: Arc<dyn RateLimiter>) {
    let hits = (0..50).map(|_| {
        let limiter = Arc::clone(&limiter);
        tokio::spawn(async move { limiter.hit("a", LONG).await.unwrap().count })
    });
    let mut counts: Vec<u64> = futures::future::join_all(hits).await.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<u64>>());
}

pub async fn a_refund_takes_back_one_hit(limiter: Arc<dyn RateLimiter>) {
    limiter.hit("a", LONG).await.unwrap();
    limiter.hit("a", LONG).await.unwrap();
    limiter.refund("a").await.unwrap();
    assert_eq!(limiter.hit("a", LONG).await.unwrap().count, 2);
}

pub async fn a_refund_never_brings_the_count_below_zero(limiter: Arc<dyn RateLimiter>) {
    limiter.hit("a", LONG).await.unwrap();
    for _ in 0..3 {
        limiter.refund("a").await.unwrap();
    }
    assert_eq!(limiter.hit("a", LONG).await.unwrap().count, 1);
}

pub async fn a_refund_on_a_key_without_a_window_does_nothing(limiter: Arc<dyn RateLimiter>) {
    limiter.refund("never-hit").await.unwrap();
    assert_eq!(limiter.hit("never-hit", LONG).await.unwrap().count, 1);
}

pub async fn a_refund_keeps_the_end_of_the_window(limiter: Arc<dyn RateLimiter>) {
    let first = limiter.hit("a", SHORT).await.unwrap();
    limiter.refund("a").await.unwrap();
    let again = limiter.hit("a", LONG).await.unwrap();
    assert!(again.resets_in <= first.resets_in, "{first:?} then {again:?}");
    tokio::time::sleep(SHORT * 3).await;
    assert_eq!(limiter.hit("a", LONG).await.unwrap().count, 1, "the short window ended as it would have");
}

pub async fn a_refund_after_the_window_has_ended_does_not_reach_the_next_one(limiter: Arc<dyn RateLimiter>) {
    limiter.hit("a", SHORT).await.unwrap();
    tokio::time::sleep(SHORT * 3).await;
    limiter.refund("a").await.unwrap();
    assert_eq!(limiter.hit("a", LONG).await.unwrap().count, 1);
    assert_eq!(limiter.hit("a", LONG).await.unwrap().count, 2);
}

#[cfg(test)]
mod tests {
    /// The macro's list and the functions above must agree, or a test would silently not run.
    #[test]
    fn the_macro_lists_every_rate_limit_contract_test_exactly_once() {
        let source = include_str!("rate_limit_suite.rs");
        let mut written: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .filter_map(|l| l.split('(').next())
            .collect();
        let start = source.find("__rate_limit_contract_tests_each! { $factory;").unwrap();
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
        assert!(written.len() >= 11);
    }
}
