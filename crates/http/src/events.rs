//! Dead letters of event processing (`/admin/events/dead-letters`): the events whose
//! handling failed for good, with their last error, and putting one back; with their DTOs.

use crate::catalog::path_id;
use crate::error::ApiError;
use crate::permissions::{AnalyticsRead, RequirePermission};
use crate::query::{Paginated, Pagination};
use crate::responses::{NotFound, PermissionErrors, ServerErrors, ValidationFailed};
use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::web::{Data, Path};
use chrono::{DateTime, Utc};
use serde::Serialize;
use storefront_app::ports::{DeadLetter, Page};
use storefront_domain::EventId;
use utoipa::ToSchema;
use uuid::Uuid;

/// An event whose handling failed for good.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4ab0",
    "type": "order.placed",
    "version": 1,
    "occurred_at": "2025-02-03T18:12:00.123456Z",
    "payload": {"order_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4aa0", "user_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "total_cents": 49800, "items": []},
    "error": "mail not sent: connection refused",
    "attempts": 5,
    "failed_at": "2025-02-03T18:20:41.000000Z"
}))]
pub struct DeadLetterResponse {
    /// The event's id (the one to retry).
    pub id: Uuid,
    /// The event type (`user.registered`, `order.placed`, …).
    #[serde(rename = "type")]
    #[schema(example = "order.placed")]
    pub event_type: String,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    /// The event's payload (see `docs/events.md`).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The last handling error.
    pub error: String,
    /// How many times handling it was tried.
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
}

impl From<DeadLetter> for DeadLetterResponse {
    fn from(d: DeadLetter) -> Self {
        Self {
            id: d.event.id.0,
            event_type: d.event.event_type.as_str().to_owned(),
            version: d.event.version,
            occurred_at: d.event.occurred_at,
            payload: d.event.payload,
            error: d.error,
            attempts: d.attempts,
            failed_at: d.failed_at,
        }
    }
}

/// Dead-lettered events
///
/// Events whose handling failed for good (after every retry), newest failure first, each
/// with its last error.
#[utoipa::path(
    get,
    path = "/api/v1/admin/events/dead-letters",
    tag = "admin",
    operation_id = "list_dead_letters",
    security(("oauth2" = []), ("bearer" = [])),
    params(Pagination),
    responses(
        (status = 200, description = "One page of dead letters", body = Paginated<DeadLetterResponse>),
        PermissionErrors,
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_dead_letters(
    _caller: RequirePermission<AnalyticsRead>,
    state: Data<AppState>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let pagination = pagination?;
    let page = state.dead_letters.list(pagination.page()).await?;
    let page =
        Page { items: page.items.into_iter().map(DeadLetterResponse::from).collect::<Vec<_>>(), total: page.total };
    Ok(HttpResponse::Ok().json(Paginated::<DeadLetterResponse>::new(page, pagination)))
}

/// Retry a dead-lettered event
///
/// Puts the event back to be handled again, with a fresh count of attempts; answers 202
/// (accepted: a worker handles it shortly), with no body. Its handlers still skip what they
/// did before (an event is never handled twice by one handler).
#[utoipa::path(
    post,
    path = "/api/v1/admin/events/dead-letters/{id}/retry",
    tag = "admin",
    operation_id = "retry_dead_letter",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The dead-lettered event's id")),
    responses(
        (status = 202, description = "The event is queued to be handled again"),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn retry_dead_letter(
    _caller: RequirePermission<AnalyticsRead>,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EventId = path_id::<Uuid>(&id).map(EventId)?;
    state.dead_letters.retry(id).await?;
    Ok(HttpResponse::Accepted().finish())
}
