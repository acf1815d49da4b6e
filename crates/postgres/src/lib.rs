//! The PostgreSQL adapter of the persistence ports (diesel + diesel-async + bb8): the
//! connection pool, the repository implementations, the embedded migrations and the
//! readiness probe. It owns every transaction: each port method that must be atomic runs
//! in one database transaction here.

#[macro_use]
mod paging;
mod assistant;
mod audit;
mod catalog;
mod error;
mod events;
mod lifecycle;
mod migrations;
mod orders;
mod pool;
mod pool_metrics;
mod prepared;
mod readiness;
mod roles;
mod schema;
mod sessions;
mod summaries;
mod user_admin;
mod users;

pub use migrations::run_migrations;
pub use pool_metrics::PoolStatus;

use bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::PoolError;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use storefront_app::StoreError;

/// How many times a transaction PostgreSQL aborted as a deadlock victim (or for a
/// serialisation failure) is run in all before its error is reported.
const TRANSACTION_ATTEMPTS: u32 = 3;

/// How to reach PostgreSQL and how the pool behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// Upper bound of open connections.
    pub max_connections: u32,
    /// Connections kept open while idle (`None`: open them only on demand).
    pub min_idle: Option<u32>,
    /// How long a request waits for a connection before answering `Unavailable`.
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for every connection.
    pub statement_timeout: Duration,
    /// A connection whose last statement finished without error less than this long ago is
    /// handed out without the liveness check (`SELECT 1`); `ZERO` checks every checkout.
    pub check_after_idle: Duration,
}

impl PgSettings {
    /// Sensible defaults: 16 connections, 2 s to get one, 5 s per statement, a liveness
    /// check for connections idle over 500 ms.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            min_idle: None,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            check_after_idle: Duration::from_millis(500),
        }
    }
}

/// The PostgreSQL store; clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<pool::Manager>,
    /// Upper bound for one port call, so that no request hangs on a frozen server
    /// (statement_timeout needs a server that still answers).
    deadline: Duration,
    /// Every SQL statement sent on the pool's connections, counted (see `statement_count`).
    statements: Arc<AtomicU64>,
    /// Callers waiting for a connection now.
    waiting: Arc<AtomicU64>,
    max_connections: u32,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (connections, idle) = self.pool_status();
        f.debug_struct("PgStore").field("connections", &connections).field("idle", &idle).finish()
    }
}

impl PgStore {
    /// Builds the pool without connecting: the server can start while the database is
    /// down, and connections are opened (again) as soon as it is back.
    ///
    /// Must be called within a Tokio runtime (the pool spawns its maintenance tasks).
    ///
    /// # Errors
    /// `Internal` for settings that can never work (malformed URL, empty pool) or when no
    /// Tokio runtime is running.
    pub fn connect(settings: &PgSettings) -> Result<PgStore, StoreError> {
        settings
            .url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| StoreError::Internal(format!("invalid database URL: {e}")))?;
        if settings.max_connections == 0 {
            return Err(StoreError::Internal("the database pool needs at least one connection".into()));
        }
        if settings.min_idle.is_some_and(|min| min > settings.max_connections) {
            return Err(StoreError::Internal("min_idle exceeds max_connections".into()));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::Internal("PgStore::connect needs a running Tokio runtime".into()));
        }

        let statements = Arc::new(AtomicU64::new(0));
        let manager = pool::Manager::new(
            settings.url.clone(),
            settings.acquire_timeout,
            settings.statement_timeout,
            settings.check_after_idle,
            Arc::clone(&statements),
        );
        let pool = Pool::builder()
            .max_size(settings.max_connections)
            .min_idle(settings.min_idle)
            .connection_timeout(settings.acquire_timeout)
            .error_sink(Box::new(LogConnectionErrors))
            .build_unchecked(manager);
        let deadline = settings.acquire_timeout + settings.statement_timeout + Duration::from_secs(1);
        Ok(PgStore {
            pool,
            deadline,
            statements,
            waiting: Arc::new(AtomicU64::new(0)),
            max_connections: settings.max_connections,
        })
    }

    /// The pool's size now: (open connections, idle connections).
    pub fn pool_status(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// The pool's size, idle connections and waiting callers now.
    pub fn pool_metrics(&self) -> PoolStatus {
        let (connections, idle) = self.pool_status();
        PoolStatus { connections, idle, max: self.max_connections, waiting: self.waiting.load(Ordering::Relaxed) }
    }

    /// Refreshes the pool gauges of `/metrics`.
    pub(crate) fn publish_pool_metrics(&self) {
        self.pool_metrics().publish();
    }

    /// How many SQL statements this store has sent so far, on all its connections: every
    /// query, `BEGIN` and `COMMIT`, and the pool's liveness check (`SELECT 1`) on the
    /// checkouts that need one (see `PgSettings::check_after_idle`). Tests take the difference around a call to see what it costs, e.g. that
    /// a listing page costs the same whatever its size.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// A connection from the pool, or `Unavailable` within the acquire timeout.
    async fn conn(&self) -> Result<PooledConnection<'_, pool::Manager>, StoreError> {
        let outcome = {
            let _waiting = pool_metrics::Waiting::start(&self.waiting);
            self.publish_pool_metrics();
            self.pool.get().await
        };
        self.publish_pool_metrics();
        outcome.map_err(error::from_pool)
    }

    /// A connection from the pool that the caller keeps as long as it needs (an open unit
    /// of work), or `Unavailable` within the acquire timeout.
    async fn owned_conn(&self) -> Result<PooledConnection<'static, pool::Manager>, StoreError> {
        let outcome = {
            let _waiting = pool_metrics::Waiting::start(&self.waiting);
            self.publish_pool_metrics();
            self.pool.get_owned().await
        };
        self.publish_pool_metrics();
        outcome.map_err(error::from_pool)
    }

    /// Runs one port call under the store's deadline.
    async fn bounded<T>(&self, op: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let outcome = tokio::time::timeout(self.deadline, op).await.unwrap_or_else(|_| Err(error::deadline_exceeded()));
        // The call's connection is back in the pool now.
        self.publish_pool_metrics();
        outcome
    }

    /// Runs a retention `DELETE` (`sql`, whose one bind is the cut-off time) and returns how
    /// many rows it removed.
    async fn purge_older_than(
        &self,
        sql: &'static str,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        use diesel_async::RunQueryDsl;
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = diesel::sql_query(sql)
                .bind::<diesel::sql_types::Timestamptz, _>(before)
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(deleted as u64)
        })
        .await
    }
}

/// Runs `attempt` (one whole transaction, on a connection of its own) again when PostgreSQL
/// aborted it as a deadlock victim: the caller never sees a deadlock, only the outcome of
/// a clean run. Any other outcome is returned as is.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, error::TxError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(err) if err.is_retryable() && tries < TRANSACTION_ATTEMPTS => {
                tracing::warn!(?err, tries, "transaction aborted by the database; running it again");
                tries += 1;
            }
            outcome => return outcome.map_err(StoreError::from),
        }
    }
}

/// Logs the connection failures of the pool's background work (opening idle connections),
/// which no caller would otherwise see.
#[derive(Debug, Clone, Copy)]
struct LogConnectionErrors;

impl bb8::ErrorSink<PoolError> for LogConnectionErrors {
    fn sink(&self, error: PoolError) {
        tracing::warn!(%error, "database pool could not open a connection");
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<PoolError>> {
        Box::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connecting_does_not_need_a_reachable_database() {
        let store = PgStore::connect(&PgSettings::new("postgres://nobody@127.0.0.1:1/nothing")).unwrap();
        assert_eq!(store.pool_status(), (0, 0));
    }

    #[test]
    fn settings_that_can_never_work_are_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = runtime.enter();
        let empty = PgSettings { max_connections: 0, ..PgSettings::new("postgres://localhost/db") };
        assert!(PgStore::connect(&empty).is_err());
        assert!(PgStore::connect(&PgSettings::new("postgres://localhost:notaport/db")).is_err());
    }

    #[test]
    fn connecting_outside_a_runtime_is_an_error_not_a_panic() {
        assert!(PgStore::connect(&PgSettings::new("postgres://localhost/db")).is_err());
    }
}
