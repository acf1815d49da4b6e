//! Liveness (`/health`, touches nothing) and readiness (`/health/ready`, runs every probe
//! within a bounded time).

use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Data;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

/// The longest a single readiness probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The process is up.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "version": "0.1.0"}))]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The running build's version.
    pub version: String,
}

/// Whether every dependency can serve, with each one's state.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "checks": {"database": "ok"}}))]
pub struct ReadinessResponse {
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Each dependency's state: `ok`, or why it cannot serve.
    pub checks: BTreeMap<String, String>,
}

/// Liveness
///
/// Answers as long as the process serves HTTP; touches no dependency.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    operation_id = "health",
    responses((status = 200, description = "The process is up", body = HealthResponse))
)]
pub async fn health(state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(HealthResponse { status: "ok", version: state.config.version.clone() })
}

/// Readiness
///
/// Runs every readiness probe (the database…) concurrently, each bounded to one second, so
/// this answers within about a second even when a dependency hangs.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    operation_id = "ready",
    responses(
        (status = 200, description = "Every dependency can serve", body = ReadinessResponse),
        (status = 503, description = "A dependency cannot serve", body = ReadinessResponse,
            example = json!({"status": "unavailable", "checks": {"database": "connection refused"}})),
    )
)]
pub async fn ready(state: Data<AppState>) -> HttpResponse {
    let checks = futures::future::join_all(state.readiness.iter().map(|probe| async move {
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
        };
        (probe.name().to_owned(), outcome)
    }))
    .await;
    let all_ok = checks.iter().all(|(_, outcome)| outcome.is_ok());
    let checks =
        checks.into_iter().map(|(name, outcome)| (name, outcome.err().unwrap_or_else(|| "ok".to_owned()))).collect();
    let body = ReadinessResponse { status: if all_ok { "ok" } else { "unavailable" }, checks };
    let mut response = if all_ok { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store"))).json(body)
}
