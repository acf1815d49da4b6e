//! The rate-limit port: fixed-window hit counters, keyed by what is limited (a client IP on
//! one action, an account's failed logins). The policy (how many, which keys) is the
//! application's; an adapter only counts.

use async_trait::async_trait;
use std::time::Duration;

/// A key's state right after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    /// Hits counted in the key's current window, this one included.
    pub count: u64,
    /// Time left until the window ends and the key counts from zero again.
    pub resets_in: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// The counter store cannot be reached or did not answer in time.
    #[error("rate limiter unavailable: {0}")]
    Unavailable(String),
}

/// Fixed-window counters. Both adapters (in-process and Redis) keep the same semantics,
/// proven by the shared contract suite in `storefront-contract`.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit on `key` and returns the key's usage.
    ///
    /// The first hit on a key without a current window MUST open one that ends `window`
    /// later; hits within it MUST count up (1, 2, 3…) and MUST NOT extend it; once it has
    /// ended the key MUST count from 1 again, so no key stays limited for longer than
    /// `window`. `resets_in` MUST be positive and at most `window`. Concurrent hits MUST
    /// each be counted once: N hits on a fresh key see the counts 1..=N, each exactly once.
    ///
    /// # Errors
    /// `Unavailable` when the counters cannot be reached; the caller decides what that means.
    async fn hit(&self, key: &str, window: Duration) -> Result<WindowUsage, RateLimitError>;

    /// Takes back one hit on `key` within its current window (a hit that turned out not to
    /// count, such as a login attempt with the right password).
    ///
    /// MUST NOT bring the count below zero, MUST NOT change when the window ends, and MUST
    /// do nothing for a key without a current window.
    ///
    /// # Errors
    /// `Unavailable` when the counters cannot be reached.
    async fn refund(&self, key: &str) -> Result<(), RateLimitError>;
}
