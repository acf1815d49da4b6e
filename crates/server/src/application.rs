//! Wiring: builds the store (PostgreSQL, or memory without a database URL), the security
//! adapters and the services, and runs the HTTP server.

use crate::error::StartupError;
use crate::events::{Background, in_process_dispatcher};
use crate::seed::SeedSummary;
use crate::settings::{LogFormat, Settings};
use crate::signals::shutdown_signal;
use crate::store::Store;
use actix_web::dev::Server;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use storefront_app::RateLimits;
use storefront_app::ports::RateLimiter;
use storefront_app::ports::{SystemClock, UuidV7Generator};
use storefront_app::{AuthSettings, OrderSettings, ServicePorts, ServiceSettings, Services};
use storefront_auth::{BcryptHasher, HashingLimits, JwtCodec, RandomRefreshTokens, RfcTotp};
use storefront_http::{AppState, CursorKey, HttpConfig, TrustedProxies};
use storefront_memory::MemoryRateLimiter;
use storefront_redis::{RedisConnection, RedisRateLimiter, RedisSettings};

/// The rate-limit counters: in Redis when it is configured (shared by every instance),
/// else in this process.
pub fn rate_limits(settings: &Settings) -> Result<RateLimits, StartupError> {
    let limiter: Arc<dyn RateLimiter> = match &settings.redis.url {
        Some(url) => {
            let redis = RedisSettings {
                url: url.clone(),
                cluster: settings.redis.cluster,
                key_prefix: settings.redis.key_prefix.clone(),
                timeout: Duration::from_millis(settings.redis.timeout_ms),
            };
            let connection = RedisConnection::new(redis).map_err(|e| StartupError::Config(e.to_string()))?;
            tracing::info!(key_prefix = %settings.redis.key_prefix, cluster = settings.redis.cluster, "rate-limit counters in Redis, shared by every instance");
            Arc::new(RedisRateLimiter::new(connection))
        }
        None => Arc::new(MemoryRateLimiter::new()),
    };
    if !settings.rate_limit.enabled {
        tracing::warn!("rate limits are OFF (rate_limit.enabled = false)");
    }
    Ok(RateLimits::new(limiter, settings.rate_limit.policy()))
}

/// The services of the application over the given store.
pub fn build_services(settings: &Settings, store: &Store) -> Result<AppState, StartupError> {
    let hasher = Arc::new(
        BcryptHasher::with_limits(
            settings.password_pepper(),
            settings.auth.bcrypt_cost,
            HashingLimits::per_core(settings.auth.hashing_queue),
        )
        .map_err(|e| StartupError::Hasher(e.0))?,
    );
    // One secret for the tokens and the listing's cursors (random per process when none is
    // configured, so both must come from the same draw).
    let jwt_secret = settings.jwt_secret();
    let ports = ServicePorts {
        hasher,
        access_tokens: Arc::new(JwtCodec::new(
            &jwt_secret,
            settings.auth.issuer.clone(),
            settings.auth.audience.clone(),
        )),
        refresh_tokens: Arc::new(RandomRefreshTokens),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Generator),
        language_model: crate::assistant::language_model(settings)?,
        totp: Arc::new(RfcTotp),
        analysis_cache: crate::assistant::analysis_cache(settings)?,
    };
    let service_settings = ServiceSettings {
        auth: AuthSettings {
            access_ttl: chrono::Duration::seconds(settings.auth.access_ttl_secs),
            refresh_ttl: chrono::Duration::seconds(settings.auth.refresh_ttl_secs),
            refresh_reuse_grace: chrono::Duration::seconds(settings.auth.refresh_reuse_grace_secs),
            max_sessions_per_user: settings.auth.max_sessions_per_user,
        },
        orders: OrderSettings {
            idempotency_retention: chrono::Duration::seconds(settings.orders.idempotency_retention_secs),
            idempotency_abandon_after: chrono::Duration::seconds(settings.orders.idempotency_abandon_after_secs),
            low_stock_threshold: settings.catalog.low_stock_threshold,
            low_stock_alert_window: settings.catalog.low_stock_rule().window,
        },
        rate_limits: Some(rate_limits(settings)?),
        assistant: crate::assistant::assistant_settings(settings),
        insights: crate::assistant::insight_settings(settings),
        lifecycle: settings.lifecycle(),
    };
    let services = match store {
        Store::Postgres(pg) => Services::new(pg, ports, service_settings),
        Store::Memory(memory) => Services::new(memory, ports, service_settings),
    };
    let config = HttpConfig {
        json_limit_bytes: settings.http.json_limit_bytes,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        currency: settings.catalog.currency.clone(),
        trusted_proxies: TrustedProxies::parse(&settings.server.trusted_proxies).map_err(StartupError::Config)?,
        cors: settings.cors.config(),
        sse_keep_alive: HttpConfig::SSE_KEEP_ALIVE,
        cursor_key: CursorKey::derive(&jwt_secret),
        catalog_cache_max_age_secs: settings.catalog.cache_max_age_secs,
    };
    Ok(AppState::new(services, vec![store.ports().readiness], config))
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
        // Before listening, so that a demo login right after the banner works.
        let demo = match store {
            Store::Memory(_) if settings.catalog.seed_demo_on_memory => seed_memory(&settings, &state).await,
            _ => None,
        };
        if demo.is_some() && settings.redis.url.is_none() && settings.events.dispatch_in_process {
            dispatch_seeded_events(&settings, &store).await?;
        }
        let mut background = Background::default();
        let purging = (state.orders.clone(), state.auth.clone(), state.lifecycle.clone());
        let every = Duration::from_secs(settings.orders.idempotency_purge_interval_secs);
        // The retention job: idempotency keys past their retention, sessions and refresh
        // tokens that expired or were ended, and link tokens expired or spent.
        background.periodic("idempotency_purge", every, move || {
            let (orders, auth, lifecycle) = purging.clone();
            async move {
                orders.purge_idempotency_keys().await?;
                auth.purge_ended_sessions().await?;
                lifecycle.purge_links().await.map(|_| ())
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
        Banner { settings: &settings, port, store: &store, demo }.log();
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

/// Handles the events the demo seeding raised (its welcome and order mails) before the
/// server listens, so that their log lines come before the banner instead of burying it.
/// What is left (a failing mail waiting for its retry) the background dispatcher handles.
async fn dispatch_seeded_events(settings: &Settings, store: &Store) -> Result<(), StartupError> {
    let dispatcher = in_process_dispatcher(settings, store)?;
    // Bounded: a handler failing at once must not hold the start up.
    for _ in 0..100 {
        match dispatcher.run_once().await {
            Ok(report) if !report.is_idle() => {}
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "handling the demo's events failed; the dispatcher retries");
                break;
            }
        }
    }
    Ok(())
}

/// Fills the in-memory store with the demo catalogue (development only); what it seeded,
/// or nothing when it failed (said in the log: the server is still of use).
async fn seed_memory(settings: &Settings, state: &AppState) -> Option<SeedSummary> {
    match crate::seed::seed_demo(settings, state).await {
        Ok(summary) => Some(summary),
        Err(e) => {
            tracing::error!(error = %e, "seeding the demo catalogue failed");
            None
        }
    }
}

/// The one start-up message: where the server listens and its documentation is, which
/// store it runs on, and (with the demo catalogue) how to log in.
pub struct Banner<'a> {
    pub settings: &'a Settings,
    pub port: u16,
    pub store: &'a Store,
    pub demo: Option<SeedSummary>,
}

impl Banner<'_> {
    fn log(&self) {
        let address = format!("http://{}:{}", self.settings.server.host, self.port);
        let store = match self.store {
            Store::Postgres(_) => "PostgreSQL",
            Store::Memory(_) => "the in-memory store: every change is lost at exit",
        };
        let env = self.settings.env.as_str();
        let demo_accounts: Vec<&str> =
            if self.demo.is_some() { crate::seed::demo_emails().collect() } else { Vec::new() };
        match self.settings.log.format {
            // One structured line; "storefront listening" with `port` is what scripts wait for.
            LogFormat::Json => tracing::info!(
                port = self.port,
                env,
                address,
                docs = format!("{address}/docs"),
                store,
                ?demo_accounts,
                demo_password = self.demo.map_or("", |_| crate::seed::DEMO_PASSWORD),
                "storefront listening"
            ),
            LogFormat::Text => tracing::info!("{}", self.text(&address, store, &demo_accounts)),
        }
    }

    fn text(&self, address: &str, store: &str, demo_accounts: &[&str]) -> String {
        let mut text = format!(
            "storefront {} ({}) listening on {address}, on {store}\n  \
             API documentation: {address}/docs (Swagger UI); OpenAPI document: {address}/openapi.json",
            env!("CARGO_PKG_VERSION"),
            self.settings.env.as_str(),
        );
        if let Some(demo) = self.demo {
            text.push_str(&format!(
                "\n  demo catalogue: {} products in {} categories, {} orders; demo accounts, all with the password \
                 \"{}\": {}",
                demo.products,
                demo.categories,
                demo.orders,
                crate::seed::DEMO_PASSWORD,
                demo_accounts.join(", ")
            ));
        }
        text
    }
}
