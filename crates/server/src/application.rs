//! Wiring: builds the store (PostgreSQL, or memory without a database URL), the security
//! adapters and the services, and runs the HTTP server.

use crate::events::Background;
use crate::settings::Settings;
use actix_web::dev::Server;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use storefront_app::RateLimits;
use storefront_app::ports::RateLimiter;
use storefront_app::ports::{
    AuditLog, CategoryRepository, DeadLetters, EventOutbox, IdempotencyStore, OrderRepository, ProcessedEvents,
    ProductRepository, ReadinessProbe, ReviewRepository, RoleRepository, SessionRepository, SystemClock,
    UserAdminRepository, UserRepository, UuidV7Generator,
};
use storefront_app::{
    AccessService, AccountService, AuthService, AuthSettings, CatalogService, DeadLetterService, OrderService,
    OrderSettings, OutboxDispatcher, StoreError, UserAdminService,
};
use storefront_auth::{BcryptHasher, HashingLimits, JwtCodec, RandomRefreshTokens};
use storefront_http::{AppState, HttpConfig, TrustedProxies};
use storefront_memory::{MemoryRateLimiter, MemoryStore};
use storefront_postgres::{PgSettings, PgStore, run_migrations};
use storefront_redis::{RedisConnection, RedisRateLimiter, RedisSettings};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] StoreError),
    #[error("password hasher: {0}")]
    Hasher(String),
    #[error("mail: {0}")]
    Mail(String),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("configuration: {0}")]
    Config(String),
}

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
            None => {
                tracing::warn!(
                    "no database URL configured: running on the IN-MEMORY store; every change is lost at exit"
                );
                Ok(Store::Memory(MemoryStore::new()))
            }
        }
    }

    pub(crate) fn ports(&self) -> Ports {
        match self {
            Store::Postgres(pg) => Ports::of(pg),
            Store::Memory(mem) => Ports::of(mem),
        }
    }
}

/// Every persistence port, served by one store.
pub(crate) struct Ports {
    pub(crate) users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    roles: Arc<dyn RoleRepository>,
    user_admin: Arc<dyn UserAdminRepository>,
    audit: Arc<dyn AuditLog>,
    products: Arc<dyn ProductRepository>,
    categories: Arc<dyn CategoryRepository>,
    reviews: Arc<dyn ReviewRepository>,
    orders: Arc<dyn OrderRepository>,
    idempotency: Arc<dyn IdempotencyStore>,
    pub(crate) outbox: Arc<dyn EventOutbox>,
    pub(crate) dead_letters: Arc<dyn DeadLetters>,
    pub(crate) processed: Arc<dyn ProcessedEvents>,
    readiness: Arc<dyn ReadinessProbe>,
}

impl Ports {
    fn of<S>(store: &S) -> Self
    where
        S: UserRepository
            + SessionRepository
            + RoleRepository
            + UserAdminRepository
            + AuditLog
            + ProductRepository
            + CategoryRepository
            + ReviewRepository
            + OrderRepository
            + IdempotencyStore
            + EventOutbox
            + DeadLetters
            + ProcessedEvents
            + ReadinessProbe
            + Clone
            + 'static,
    {
        Self {
            users: Arc::new(store.clone()),
            sessions: Arc::new(store.clone()),
            roles: Arc::new(store.clone()),
            user_admin: Arc::new(store.clone()),
            audit: Arc::new(store.clone()),
            products: Arc::new(store.clone()),
            categories: Arc::new(store.clone()),
            reviews: Arc::new(store.clone()),
            orders: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            outbox: Arc::new(store.clone()),
            dead_letters: Arc::new(store.clone()),
            processed: Arc::new(store.clone()),
            readiness: Arc::new(store.clone()),
        }
    }
}

/// The rate-limit counters: in Redis when it is configured (shared by every instance),
/// else in this process.
pub fn rate_limits(settings: &Settings) -> Result<RateLimits, StartupError> {
    let limiter: Arc<dyn RateLimiter> = match &settings.redis.url {
        Some(url) => {
            let redis = RedisSettings {
                url: url.clone(),
                key_prefix: settings.redis.key_prefix.clone(),
                timeout: Duration::from_millis(settings.redis.timeout_ms),
            };
            let connection = RedisConnection::new(redis).map_err(|e| StartupError::Config(e.to_string()))?;
            tracing::info!(key_prefix = %settings.redis.key_prefix, "rate-limit counters in Redis, shared by every instance");
            Arc::new(RedisRateLimiter::new(connection))
        }
        None => Arc::new(MemoryRateLimiter::new()),
    };
    if !settings.rate_limit.enabled {
        tracing::warn!("rate limits are OFF (rate_limit.enabled = false)");
    }
    Ok(RateLimits::new(limiter, settings.rate_limit.policy()))
}

pub fn pg_settings(settings: &Settings, url: &str) -> PgSettings {
    let mut pg = PgSettings::new(url.to_owned());
    pg.max_connections = settings.database.max_connections;
    pg.acquire_timeout = Duration::from_millis(settings.database.acquire_timeout_ms);
    pg.statement_timeout = Duration::from_millis(settings.database.statement_timeout_ms);
    pg.check_after_idle = Duration::from_millis(settings.database.check_after_idle_ms);
    pg
}

/// The services of the application over the given store.
pub fn build_services(settings: &Settings, store: &Store) -> Result<AppState, StartupError> {
    let ports = store.ports();
    let dead_letters = DeadLetterService::new(crate::events::dead_letters(settings, &ports)?, Arc::new(SystemClock));
    let hasher = Arc::new(
        BcryptHasher::with_limits(
            settings.password_pepper(),
            settings.auth.bcrypt_cost,
            HashingLimits::per_core(settings.auth.hashing_queue),
        )
        .map_err(|e| StartupError::Hasher(e.0))?,
    );
    let codec =
        Arc::new(JwtCodec::new(&settings.jwt_secret(), settings.auth.issuer.clone(), settings.auth.audience.clone()));
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(UuidV7Generator);
    let auth_settings = AuthSettings {
        access_ttl: chrono::Duration::seconds(settings.auth.access_ttl_secs),
        refresh_ttl: chrono::Duration::seconds(settings.auth.refresh_ttl_secs),
        refresh_reuse_grace: chrono::Duration::seconds(settings.auth.refresh_reuse_grace_secs),
        max_sessions_per_user: settings.auth.max_sessions_per_user,
    };
    let limits = rate_limits(settings)?;
    let accounts = AccountService::new(ports.users.clone(), hasher.clone(), clock.clone(), ids.clone())
        .with_rate_limits(limits.clone());
    let access = AccessService::new(ports.roles, ports.audit, clock.clone());
    let user_admin = UserAdminService::new(ports.users.clone(), ports.user_admin, access.guard(), clock.clone());
    let catalog = CatalogService::new(
        ports.products,
        ports.categories,
        ports.reviews,
        clock.clone(),
        ids.clone(),
        settings.catalog.low_stock_threshold,
    );

    let order_settings = OrderSettings {
        idempotency_retention: chrono::Duration::seconds(settings.orders.idempotency_retention_secs),
        idempotency_abandon_after: chrono::Duration::seconds(settings.orders.idempotency_abandon_after_secs),
        low_stock_threshold: settings.catalog.low_stock_threshold,
    };
    let orders = OrderService::new(ports.orders, ports.idempotency, clock.clone(), ids.clone(), order_settings);
    let auth = AuthService::new(
        ports.users,
        ports.sessions,
        hasher,
        codec,
        Arc::new(RandomRefreshTokens),
        clock,
        ids,
        auth_settings,
    )
    .with_rate_limits(limits);
    Ok(AppState {
        accounts,
        auth,
        access,
        user_admin,
        catalog,
        orders,
        dead_letters,
        readiness: vec![ports.readiness],
        config: HttpConfig {
            json_limit_bytes: settings.http.json_limit_bytes,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            currency: settings.catalog.currency.clone(),
            trusted_proxies: TrustedProxies::parse(&settings.server.trusted_proxies).map_err(StartupError::Config)?,
            cors: settings.cors.config(),
        },
    })
}

/// A bound, not yet running HTTP server, with its background tasks.
pub struct Application {
    port: u16,
    server: Server,
    background: Background,
    shutdown_grace: Duration,
}

impl Application {
    /// Builds everything and binds the listen address (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let store = Store::from_settings(&settings).await?;
        let state = build_services(&settings, &store)?;
        if matches!(store, Store::Memory(_)) && settings.catalog.seed_demo_on_memory {
            // In the background, so the server answers at once; the catalogue fills in
            // within a second or two.
            let seeding = state.clone();
            tokio::spawn(async move { seed_in_background(seeding).await });
        }
        let mut background = Background::default();
        let purging = (state.orders.clone(), state.auth.clone());
        let every = Duration::from_secs(settings.orders.idempotency_purge_interval_secs);
        // The retention job: idempotency keys past their retention, and sessions and
        // refresh tokens that expired or were ended.
        background.periodic("idempotency_purge", every, move || {
            let (orders, auth) = purging.clone();
            async move {
                orders.purge_idempotency_keys().await?;
                auth.purge_ended_sessions().await.map(|_| ())
            }
        });
        crate::events::spawn_for_serve(&settings, &store, &mut background)?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Listen { address: address.clone(), source })?;
        let port =
            listener.local_addr().map_err(|source| StartupError::Listen { address: address.clone(), source })?.port();
        let mut server = actix_web::HttpServer::new(move || storefront_http::build_app(state.clone()))
            .shutdown_timeout(settings.server.shutdown_timeout_secs)
            // actix stops at once on SIGINT; `run_until_stopped` makes both signals graceful.
            .disable_signals();
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener).map_err(|source| StartupError::Listen { address, source })?.run();
        tracing::info!(port, env = settings.env.as_str(), "storefront listening");
        let shutdown_grace = Duration::from_secs(settings.server.shutdown_timeout_secs);
        Ok(Self { port, server, background, shutdown_grace })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting connections and lets in-flight
    /// requests finish (bounded by `server.shutdown_timeout_secs`), then stops the
    /// background tasks (each finishes its round in hand).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let on_signal = tokio::spawn(async move {
            let signal = shutdown_signal().await;
            tracing::info!(signal, "shutting down: no new connections, in-flight requests may finish");
            handle.stop(true).await;
        });
        let outcome = self.server.await;
        on_signal.abort();
        self.background.stop(self.shutdown_grace).await;
        tracing::info!("storefront stopped");
        outcome
    }
}

/// Waits for SIGTERM or SIGINT and names it.
pub(crate) async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot listen for shutdown signals; stop the server with SIGKILL");
            std::future::pending().await
        }
    }
}

/// Handles the outbox's events in this process (no stream configured): the dispatcher, the
/// purge of handled events, and the backlog gauge.
pub fn spawn_in_process_dispatch(
    settings: &Settings,
    store: &Store,
    background: &mut Background,
) -> Result<(), StartupError> {
    let ports = store.ports();
    let handler =
        crate::events::handlers(settings, ports.users.clone(), ports.processed.clone()).map_err(StartupError::Mail)?;
    let dispatcher = Arc::new(OutboxDispatcher::new(
        ports.outbox.clone(),
        handler,
        Arc::new(SystemClock),
        settings.events.retry_policy(),
        settings.events.outbox(),
    ));
    background.spawn("in_process_dispatcher", settings.events.poll_interval(), move || {
        let dispatcher = Arc::clone(&dispatcher);
        async move { dispatcher.run_once().await }
    });
    crate::events::spawn_outbox_upkeep(settings, &ports, background);
    Ok(())
}

/// Fills the in-memory store with the demo catalogue (development only).
async fn seed_in_background(state: AppState) {
    let seeder = crate::seed::Seeder {
        accounts: &state.accounts,
        auth: &state.auth,
        catalog: &state.catalog,
        orders: &state.orders,
    };
    match seeder.seed_demo(crate::seed::DEMO_PRODUCTS_PER_CATEGORY).await {
        Ok(summary) => tracing::info!(
            products = summary.products,
            categories = summary.categories,
            users = summary.users,
            password = crate::seed::DEMO_PASSWORD,
            "demo catalogue seeded into the in-memory store; log in as admin@demo.storefront.test"
        ),
        Err(e) => tracing::error!(error = %e, "seeding the demo catalogue failed"),
    }
}
