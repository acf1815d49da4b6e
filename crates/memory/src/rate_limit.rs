//! The in-process adapter of the `RateLimiter` port: a table of fixed windows behind a
//! mutex, for one server instance. Several instances need the Redis adapter, whose counters
//! they share; both keep the same semantics (the contract suite in `storefront-contract`).
//!
//! A crate such as `governor` (GCRA) would not do: its smooth leaky bucket cannot give the
//! same answers as Redis's fixed windows, and it has no refund.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use storefront_app::ports::{RateLimitError, RateLimiter, WindowUsage};

/// Below this many keys, ended windows are left in the table; above it they are swept out.
const SWEEP_FLOOR: usize = 1024;

/// Fixed-window counters in this process's memory; clones share them.
#[derive(Clone, Default)]
pub struct MemoryRateLimiter {
    table: Arc<Mutex<Table>>,
}

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys the table holds now (ended windows not swept yet included).
    pub fn len(&self) -> usize {
        self.lock().windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock leaves counts that are still counts.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Table {
    windows: HashMap<String, Window>,
    /// The size at which ended windows are swept next; doubles with the live keys, so a
    /// sweep costs O(1) amortised per hit and the table holds at most about twice the keys
    /// of one window.
    sweep_at: usize,
}

struct Window {
    count: u64,
    ends: Instant,
}

impl Table {
    fn sweep_if_large(&mut self, now: Instant) {
        if self.windows.len() < self.sweep_at.max(SWEEP_FLOOR) {
            return;
        }
        self.windows.retain(|_, window| window.ends > now);
        self.sweep_at = self.windows.len() * 2;
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, window: Duration) -> Result<WindowUsage, RateLimitError> {
        let now = Instant::now();
        let mut table = self.lock();
        table.sweep_if_large(now);
        let entry = table.windows.entry(key.to_owned()).or_insert(Window { count: 0, ends: now + window });
        if entry.ends <= now {
            *entry = Window { count: 0, ends: now + window };
        }
        entry.count += 1;
        Ok(WindowUsage { count: entry.count, resets_in: entry.ends - now })
    }

    async fn refund(&self, key: &str) -> Result<(), RateLimitError> {
        let now = Instant::now();
        if let Some(window) = self.lock().windows.get_mut(key).filter(|w| w.ends > now) {
            window.count = window.count.saturating_sub(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ended_windows_are_swept_once_the_table_grows() {
        let limiter = MemoryRateLimiter::new();
        for n in 0..SWEEP_FLOOR {
            limiter.hit(&format!("short:{n}"), Duration::from_millis(1)).await.unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        limiter.hit("long", Duration::from_secs(60)).await.unwrap();
        assert_eq!(limiter.len(), 1, "only the live window is left");
    }
}
