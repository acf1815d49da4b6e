//! Time, identifiers and readiness.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock, truncated to microseconds (what PostgreSQL stores), so that values read
/// back compare equal to values written.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

pub trait IdGenerator: Send + Sync {
    fn new_id(&self) -> Uuid;
}

/// Time-ordered UUIDv7 ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Tells whether a dependency (the database) can serve requests now.
#[async_trait]
pub trait ReadinessProbe: Send + Sync {
    /// The dependency's name as shown by `/health/ready` (`database`).
    fn name(&self) -> &'static str;
    /// `Err(why)` when it cannot serve.
    async fn check(&self) -> Result<(), String>;
}
