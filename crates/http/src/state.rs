//! What the handlers share (`AppState`: the services, readiness probes and HTTP settings)
//! and where the API lives, apart from the crate root so that handlers do not depend on
//! the module that assembles them.

use crate::catalog::cursor::CursorKey;
use crate::client_ip::TrustedProxies;
use crate::cors::CorsConfig;
use std::sync::Arc;
use storefront_app::Services;
use storefront_app::ports::ReadinessProbe;

/// Where the versioned API lives.
pub const API_PREFIX: &str = "/api/v1";

/// What the handlers share: the services, the readiness probes and HTTP settings. The
/// services are reached through it directly (`state.catalog`: it dereferences to
/// `Services`), so a new service is added to `Services` alone.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// Checked by `/health/ready` (the database, …).
    pub readiness: Vec<Arc<dyn ReadinessProbe>>,
    pub config: HttpConfig,
}

impl AppState {
    /// The state over the application's services (`Services::new`).
    pub fn new(services: Services, readiness: Vec<Arc<dyn ReadinessProbe>>, config: HttpConfig) -> Self {
        Self { services, readiness, config }
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Services {
        &mut self.services
    }
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The largest request body accepted (JSON and forms); larger answers 413.
    pub json_limit_bytes: usize,
    /// The version `/health` reports.
    pub version: String,
    /// The ISO 4217 currency of every price (one per deployment).
    pub currency: String,
    /// Proxies whose `X-Forwarded-For` names the client (none: the socket peer is).
    pub trusted_proxies: TrustedProxies,
    /// Cross-origin callers (none by default).
    pub cors: CorsConfig,
    /// How long a chat stream may stay silent before a comment line keeps it open.
    pub sse_keep_alive: std::time::Duration,
    /// Signs the product listing's cursors (derived from the server's secret).
    pub cursor_key: CursorKey,
    /// `max-age` of anonymous catalogue reads (`Cache-Control: public, max-age=…`).
    pub catalog_cache_max_age_secs: u32,
}

impl HttpConfig {
    /// 64 KiB.
    pub const DEFAULT_JSON_LIMIT_BYTES: usize = 64 * 1024;
    /// 15 s: shorter than the idle timeouts of common proxies and load balancers.
    pub const SSE_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_limit_bytes: Self::DEFAULT_JSON_LIMIT_BYTES,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            currency: "USD".into(),
            trusted_proxies: TrustedProxies::default(),
            cors: CorsConfig::default(),
            sse_keep_alive: Self::SSE_KEEP_ALIVE,
            cursor_key: CursorKey::random(),
            catalog_cache_max_age_secs: 0,
        }
    }
}

/// The app's state, from a request (an extractor's view of `Data<AppState>`).
pub(crate) fn of(req: &actix_web::HttpRequest) -> Result<actix_web::web::Data<AppState>, crate::error::ApiError> {
    req.app_data::<actix_web::web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| crate::error::ApiError::Internal("AppState is not registered".into()))
}
