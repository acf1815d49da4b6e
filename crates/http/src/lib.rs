//! Storefront's HTTP adapter (actix-web): routes, extractors, DTOs with OpenAPI schemas,
//! problem-details errors, request middleware and the Swagger UI. It calls the application
//! services and knows nothing of any store.

mod accounts;
mod admin;
mod auth;
mod catalog;
mod client_ip;
mod cors;
mod docs;
mod error;
mod events;
mod extract;
mod health;
mod metrics;
mod middleware;
mod openapi;
pub mod operations;
mod orders;
pub mod permissions;
mod responses;
mod roles;
mod routing;
mod stats;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use std::sync::Arc;
use storefront_app::ports::ReadinessProbe;
use storefront_app::{
    AccessService, AccountService, AuthService, CatalogService, DeadLetterService, OrderService, UserAdminService,
};

pub use client_ip::TrustedProxies;
pub use cors::CorsConfig;
pub use error::{ApiError, Code, FieldError, Problem};
pub use middleware::REQUEST_ID_HEADER;
pub use openapi::openapi;
pub use orders::{IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, idempotency_fingerprint};

/// Where the versioned API lives.
pub const API_PREFIX: &str = "/api/v1";

/// What the handlers share: the services, the readiness probes and HTTP settings.
#[derive(Clone)]
pub struct AppState {
    pub accounts: AccountService,
    pub auth: AuthService,
    pub access: AccessService,
    pub user_admin: UserAdminService,
    pub catalog: CatalogService,
    pub orders: OrderService,
    pub dead_letters: DeadLetterService,
    /// Checked by `/health/ready` (the database, …).
    pub readiness: Vec<Arc<dyn ReadinessProbe>>,
    pub config: HttpConfig,
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
}

impl HttpConfig {
    /// 64 KiB.
    pub const DEFAULT_JSON_LIMIT_BYTES: usize = 64 * 1024;
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_limit_bytes: Self::DEFAULT_JSON_LIMIT_BYTES,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            currency: "USD".into(),
            trusted_proxies: TrustedProxies::default(),
            cors: CorsConfig::default(),
        }
    }
}

/// The operations endpoints of a process that serves no API (`storefront worker`):
/// `/metrics` (the process's own counters) and a `/health` that touches nothing.
pub fn build_ops_app() -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    metrics::install();
    App::new().service(metrics::resources()).route(
        "/health",
        web::get().to(|| async {
            actix_web::HttpResponse::Ok()
                .json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
        }),
    )
}

/// The whole application: every route, the request middleware, the 404 for unknown routes
/// and the Swagger UI. Call it once per worker: `HttpServer::new(move || build_app(state.clone()))`.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    metrics::install();
    let cors = state.config.cors.middleware();
    App::new()
        .app_data(web::Data::new(state))
        // A path id that is not a UUID names no resource.
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _| ApiError::Validation(vec![FieldError::new("query", err.to_string())]).into()),
        )
        .service(operations::resources())
        // The documentation and the metrics themselves are not operations of the document.
        .service(docs::resources())
        .service(metrics::resources())
        .default_service(web::to(routing::not_found))
        // Inside the request context, so that preflight answers carry a request id too.
        .wrap(cors)
        .wrap(middleware::RequestContext)
}
