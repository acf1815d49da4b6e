//! Storefront's HTTP adapter (actix-web): routes, extractors, DTOs with OpenAPI schemas,
//! problem-details errors, request middleware and the Swagger UI. It calls the application
//! services and knows nothing of any store.

mod accounts;
mod admin;
mod ai_utilities;
mod assistant;
mod auth;
mod bearer;
mod body;
mod catalog;
mod client;
mod client_ip;
mod conditional;
mod cors;
mod docs;
mod error;
mod events;
mod health;
mod insights;
mod lifecycle;
mod metrics;
mod mfa;
mod middleware;
mod openapi;
pub mod operations;
mod orders;
pub mod permissions;
mod query;
mod request_id;
mod responses;
mod roles;
mod routing;
mod state;
mod stats;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};

pub use catalog::cursor::CursorKey;
pub use client_ip::TrustedProxies;
pub use cors::CorsConfig;
pub use error::{ApiError, Code, FieldError, Problem};
pub use openapi::openapi;
pub use orders::{IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, idempotency_fingerprint};
pub use request_id::REQUEST_ID_HEADER;
pub use state::{API_PREFIX, AppState, HttpConfig};

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
        .service(docs::resources(openapi::json()))
        .service(metrics::resources())
        .default_service(web::to(routing::not_found))
        // Inside the request context, so that preflight answers carry a request id too.
        .wrap(cors)
        .wrap(middleware::RequestContext)
}
