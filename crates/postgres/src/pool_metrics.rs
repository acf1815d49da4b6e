//! The pool's gauges for `/metrics`: open, idle and maximum connections, and how many
//! callers are waiting for one. bb8 reports the first two; waiters are counted here,
//! around each `pool.get()`. The gauges are refreshed whenever a caller gets or gives back
//! a connection, so they are as fresh as the last request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const POOL_CONNECTIONS: &str = "db_pool_connections";
pub const POOL_IDLE: &str = "db_pool_idle_connections";
pub const POOL_MAX: &str = "db_pool_max_connections";
pub const POOL_WAITING: &str = "db_pool_waiting_requests";

/// What the pool looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

impl PoolStatus {
    pub(crate) fn publish(self) {
        metrics::gauge!(POOL_CONNECTIONS).set(f64::from(self.connections));
        metrics::gauge!(POOL_IDLE).set(f64::from(self.idle));
        metrics::gauge!(POOL_MAX).set(f64::from(self.max));
        // Precision loss starts at 2^53 waiters.
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(POOL_WAITING).set(self.waiting as f64);
    }
}

/// Counts one caller as waiting for as long as it lives (also when its future is dropped).
pub(crate) struct Waiting(Arc<AtomicU64>);

impl Waiting {
    pub(crate) fn start(counter: &Arc<AtomicU64>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(counter))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
