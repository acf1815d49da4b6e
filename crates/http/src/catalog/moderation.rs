//! The moderators' side of review moderation (`/admin/reviews`): the queue of reviews in
//! one moderation status, and a moderator's decision on one, audited.

use super::path_id;
use super::reviews::ReviewResponse;
use crate::body::ApiJson;
use crate::error::{ApiError, merge_errors};
use crate::permissions::{RequirePermission, ReviewsModerate};
use crate::query::{ApiQuery, Paginated, Pagination};
use crate::responses::{JsonBodyErrors, NotFound, PermissionErrors, ServerErrors, ValidationFailed};
use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::web::{Data, Path};
use serde::Deserialize;
use storefront_app::review_viewer;
use storefront_domain::ReviewId;
use utoipa::{IntoParams, ToSchema};

/// Which reviews the queue lists.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModerationQueueQuery {
    /// The moderation status of the reviews listed (default `flagged`: the reviews waiting
    /// for a moderator).
    #[param(pattern = "^(flagged|rejected|approved)$", example = "flagged")]
    pub status: Option<String>,
}

/// A moderator's decision on a review.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "reject"}))]
pub struct ModerationDecisionRequest {
    /// `approve` shows the review to everyone again (and no automatic check of this text
    /// overrides it); `reject` hides it.
    #[schema(pattern = "^(approve|reject)$", example = "reject")]
    pub decision: String,
}

/// Reviews by moderation status
///
/// The moderators' queue: reviews in one moderation status (`?status=`, default
/// `flagged`), newest first, each with its `moderation`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/reviews",
    tag = "reviews",
    operation_id = "list_moderated_reviews",
    security(("oauth2" = []), ("bearer" = [])),
    params(ModerationQueueQuery, Pagination),
    responses(
        (status = 200, description = "One page of reviews in that status", body = Paginated<ReviewResponse>,
            example = json!({
                "items": [{
                    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a90",
                    "product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80",
                    "author": {"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "name": "Ada Lovelace"},
                    "rating": 1,
                    "body": "[a rude review]",
                    "verified_purchase": false,
                    "moderation": {"status": "flagged", "toxicity": 0.87, "checked_at": "2025-02-03T18:12:04.5Z"},
                    "created_at": "2025-02-03T18:12:00.123456Z",
                    "updated_at": "2025-02-03T18:12:00.123456Z"
                }],
                "total": 1,
                "limit": 20,
                "offset": 0
            })),
        PermissionErrors,
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_moderated_reviews(
    caller: RequirePermission<ReviewsModerate>,
    state: Data<AppState>,
    query: Result<ApiQuery<ModerationQueueQuery>, ApiError>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (ApiQuery(query), pagination) = merge_errors(query, pagination)?;
    let page = state.catalog.moderation_queue(query.status.as_deref(), pagination.page()).await?;
    Ok(HttpResponse::Ok().json(ReviewResponse::page(page, pagination, &review_viewer(Some(&caller.0)))))
}

/// Decide on a review
///
/// `approve` makes the review public (it counts in its product's `review_count` and
/// `rating_avg` again) and `reject` hides it; either way the decision holds against the
/// automatic check until the author changes the text, and is audited (`review.approved` /
/// `review.rejected`, target `review:<id>`) in the same transaction.
#[utoipa::path(
    post,
    path = "/api/v1/admin/reviews/{id}/decision",
    tag = "reviews",
    operation_id = "decide_review",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The review's id")),
    request_body = ModerationDecisionRequest,
    responses(
        (status = 200, description = "The review as decided, with its `moderation`", body = ReviewResponse),
        PermissionErrors,
        (status = 404, response = NotFound),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn decide_review(
    caller: RequirePermission<ReviewsModerate>,
    state: Data<AppState>,
    id: Path<String>,
    body: Result<ApiJson<ModerationDecisionRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: ReviewId = path_id(&id)?;
    let ApiJson(body) = body?;
    let review = state.catalog.decide_review(&caller.0, id, &body.decision).await?;
    Ok(HttpResponse::Ok().json(ReviewResponse::shown_to(review, &review_viewer(Some(&caller.0)))))
}
