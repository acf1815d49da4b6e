//! The persistence adapter chosen by configuration (PostgreSQL, or memory without a
//! database URL) and the ports it serves, for the services and the event workers.

use crate::error::StartupError;
use crate::settings::Settings;
use std::sync::Arc;
use std::time::Duration;
use storefront_app::ports::{
    EventOutbox, LinkTokenRepository, ProcessedEvents, ReadinessProbe, ReviewRepository, UserRepository,
};
use storefront_memory::MemoryStore;
use storefront_postgres::{PgSettings, PgStore, run_migrations};

/// The persistence adapter chosen by configuration.
#[derive(Clone)]
pub enum Store {
    Postgres(PgStore),
    Memory(MemoryStore),
}

impl Store {
    /// Connects to PostgreSQL when a URL is configured (migrating it if configured to),
    /// else the in-memory store.
    pub async fn from_settings(settings: &Settings) -> Result<Self, StartupError> {
        match &settings.database.url {
            Some(url) => {
                if settings.database.migrate_on_start {
                    run_migrations(url).await?;
                }
                Ok(Store::Postgres(PgStore::connect(&pg_settings(settings, url))?))
            }
            // The start-up banner says so.
            None => Ok(Store::Memory(MemoryStore::new())),
        }
    }

    pub(crate) fn ports(&self) -> Ports {
        match self {
            Store::Postgres(pg) => Ports::of(pg),
            Store::Memory(mem) => Ports::of(mem),
        }
    }
}

/// The ports the event workers and the readiness check use, served by one store (the
/// services get theirs from `storefront_app::Services::new`).
pub(crate) struct Ports {
    pub(crate) users: Arc<dyn UserRepository>,
    pub(crate) outbox: Arc<dyn EventOutbox>,
    pub(crate) processed: Arc<dyn ProcessedEvents>,
    pub(crate) links: Arc<dyn LinkTokenRepository>,
    pub(crate) reviews: Arc<dyn ReviewRepository>,
    pub(crate) readiness: Arc<dyn ReadinessProbe>,
}

impl Ports {
    fn of<S>(store: &S) -> Self
    where
        S: UserRepository
            + EventOutbox
            + ProcessedEvents
            + LinkTokenRepository
            + ReviewRepository
            + ReadinessProbe
            + Clone
            + 'static,
    {
        Self {
            users: Arc::new(store.clone()),
            outbox: Arc::new(store.clone()),
            processed: Arc::new(store.clone()),
            links: Arc::new(store.clone()),
            reviews: Arc::new(store.clone()),
            readiness: Arc::new(store.clone()),
        }
    }
}

pub fn pg_settings(settings: &Settings, url: &str) -> PgSettings {
    let mut pg = PgSettings::new(url.to_owned());
    pg.max_connections = settings.database.max_connections;
    pg.acquire_timeout = Duration::from_millis(settings.database.acquire_timeout_ms);
    pg.statement_timeout = Duration::from_millis(settings.database.statement_timeout_ms);
    pg.check_after_idle = Duration::from_millis(settings.database.check_after_idle_ms);
    pg
}
