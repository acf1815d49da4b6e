//! The pool's connection manager: opens and sets up connections, and checks a connection's
//! liveness on checkout only when it has not just proven itself.
//!
//! bb8's check on checkout (`SELECT 1`) is one more round trip for every port call, which
//! under load is a third to a half of the database work of a one-query request. A
//! connection whose last statement finished without error a moment ago (`fresh_for`, half a
//! second by default, as HikariCP's `aliveBypassWindowMs`) and whose socket is still open is
//! handed out as it is. Every other connection is checked as before: one idle for longer,
//! one whose last statement failed, and one whose last statement never finished (its caller
//! gave up on it, e.g. a readiness probe timing out on a hanging server). A dead socket
//! (a restarted server, a killed backend) is seen without a round trip (`has_broken`).

use diesel::ConnectionError;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolError};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A pooled connection with what its statements have told about it.
pub(crate) struct CheckedConnection {
    conn: AsyncPgConnection,
    activity: Arc<Activity>,
}

impl Deref for CheckedConnection {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl DerefMut for CheckedConnection {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// When a connection's last statement finished well, written by its instrumentation.
struct Activity {
    /// Time origin of `last_ok`.
    origin: Instant,
    /// Nanoseconds after `origin` at which the last statement finished without error; 0
    /// while a statement runs, after one failed, and before the first.
    last_ok: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { origin: Instant::now(), last_ok: AtomicU64::new(0) }
    }

    fn finished_well_within(&self, window: Duration) -> bool {
        let last_ok = self.last_ok.load(Ordering::Relaxed);
        let now = self.nanos();
        last_ok != 0 && now.saturating_sub(last_ok) < u64::try_from(window.as_nanos()).unwrap_or(u64::MAX)
    }

    fn nanos(&self) -> u64 {
        // At least 1, so that a statement finishing at the origin still counts.
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1)
    }
}

/// A connection's instrumentation: counts its statements into the store's counter and
/// keeps its `Activity`.
struct Observe {
    statements: Arc<AtomicU64>,
    activity: Arc<Activity>,
}

impl Instrumentation for Observe {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.statements.fetch_add(1, Ordering::Relaxed);
                self.activity.last_ok.store(0, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery { error: None, .. } => {
                self.activity.last_ok.store(self.activity.nanos(), Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// How the pool opens and checks connections.
pub(crate) struct Manager {
    url: String,
    connect_timeout: Duration,
    statement_timeout: Duration,
    fresh_for: Duration,
    statements: Arc<AtomicU64>,
    /// diesel-async's own manager, for its liveness query and broken-connection test.
    diesel: AsyncDieselConnectionManager<AsyncPgConnection>,
}

impl Manager {
    pub(crate) fn new(
        url: String,
        connect_timeout: Duration,
        statement_timeout: Duration,
        fresh_for: Duration,
        statements: Arc<AtomicU64>,
    ) -> Self {
        let diesel = AsyncDieselConnectionManager::new(url.clone());
        Self { url, connect_timeout, statement_timeout, fresh_for, statements, diesel }
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = CheckedConnection;
    type Error = PoolError;

    async fn connect(&self) -> Result<CheckedConnection, PoolError> {
        // A server that accepts TCP but never answers must not pin a pool slot.
        let mut conn = tokio::time::timeout(self.connect_timeout, AsyncPgConnection::establish(&self.url))
            .await
            .map_err(|_| ConnectionError::BadConnection("timed out connecting to the database".into()))
            .and_then(|connected| connected)
            .map_err(PoolError::ConnectionError)?;
        conn.batch_execute(&format!("SET statement_timeout = {}", self.statement_timeout.as_millis()))
            .await
            .map_err(|e| PoolError::ConnectionError(ConnectionError::CouldntSetupConfiguration(e)))?;
        // Set after the setup, so that only what the store itself sends is counted.
        let activity = Arc::new(Activity::new());
        conn.set_instrumentation(Observe { statements: Arc::clone(&self.statements), activity: Arc::clone(&activity) });
        Ok(CheckedConnection { conn, activity })
    }

    async fn is_valid(&self, conn: &mut CheckedConnection) -> Result<(), PoolError> {
        if conn.activity.finished_well_within(self.fresh_for) && !self.diesel.has_broken(&mut conn.conn) {
            return Ok(());
        }
        self.diesel.is_valid(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut CheckedConnection) -> bool {
        self.diesel.has_broken(&mut conn.conn)
    }
}
