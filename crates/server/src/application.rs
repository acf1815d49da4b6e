//! Wiring: builds the store (PostgreSQL, or memory without a database URL), the security
//! adapters and the services, and runs the HTTP server.

use crate::settings::Settings;
use actix_web::dev::Server;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use storefront_app::ports::{
    AuditLog, CategoryRepository, IdempotencyStore, OrderRepository, ProductRepository, ReadinessProbe,
    ReviewRepository, RoleRepository, SessionRepository, SystemClock, UserAdminRepository, UserRepository,
    UuidV7Generator,
};
use storefront_app::{
    AccessService, AccountService, AuthService, AuthSettings, CatalogService, OrderService, OrderSettings, StoreError,
    UserAdminService,
};
use storefront_auth::{BcryptHasher, JwtCodec, RandomRefreshTokens};
use storefront_http::{AppState, HttpConfig};
use storefront_memory::MemoryStore;
use storefront_postgres::{PgSettings, PgStore, run_migrations};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] StoreError),
    #[error("password hasher: {0}")]
    Hasher(String),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
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

    fn ports(&self) -> Ports {
        match self {
            Store::Postgres(pg) => Ports::of(pg),
            Store::Memory(mem) => Ports::of(mem),
        }
    }
}

/// Every persistence port, served by one store.
struct Ports {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    roles: Arc<dyn RoleRepository>,
    user_admin: Arc<dyn UserAdminRepository>,
    audit: Arc<dyn AuditLog>,
    products: Arc<dyn ProductRepository>,
    categories: Arc<dyn CategoryRepository>,
    reviews: Arc<dyn ReviewRepository>,
    orders: Arc<dyn OrderRepository>,
    idempotency: Arc<dyn IdempotencyStore>,
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

/// The services of the application over the given store.
pub fn build_services(settings: &Settings, store: &Store) -> Result<AppState, StartupError> {
    let ports = store.ports();
    let hasher = Arc::new(
        BcryptHasher::new(settings.password_pepper(), settings.auth.bcrypt_cost)
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
    };
    let accounts = AccountService::new(ports.users.clone(), hasher.clone(), clock.clone(), ids.clone());
    let access = AccessService::new(ports.roles, ports.audit, clock.clone());
    let user_admin = UserAdminService::new(ports.users.clone(), ports.user_admin, clock.clone());
    let catalog = CatalogService::new(ports.products, ports.categories, ports.reviews, clock.clone(), ids.clone());
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
    );
    Ok(AppState {
        accounts,
        auth,
        access,
        user_admin,
        catalog,
        orders,
        readiness: vec![ports.readiness],
        config: HttpConfig {
            json_limit_bytes: settings.http.json_limit_bytes,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            currency: settings.catalog.currency.clone(),
        },
    })
}

/// A bound, not yet running HTTP server.
pub struct Application {
    port: u16,
    server: Server,
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
        let purging = state.orders.clone();
        let every = Duration::from_secs(settings.orders.idempotency_purge_interval_secs);
        tokio::spawn(async move { purge_idempotency_keys(purging, every).await });
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Listen { address: address.clone(), source })?;
        let port =
            listener.local_addr().map_err(|source| StartupError::Listen { address: address.clone(), source })?.port();
        let mut server = actix_web::HttpServer::new(move || storefront_http::build_app(state.clone()))
            .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener).map_err(|source| StartupError::Listen { address, source })?.run();
        tracing::info!(port, env = settings.env.as_str(), "storefront listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting and lets in-flight requests finish
    /// (bounded by `server.shutdown_timeout_secs`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Deletes idempotency keys past their retention, now and then every `every`, for as long as
/// the server runs (on every instance: the deletions are idempotent).
async fn purge_idempotency_keys(orders: OrderService, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match orders.purge_idempotency_keys().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged idempotency keys past their retention"),
            Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed; retrying at the next tick"),
        }
    }
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
