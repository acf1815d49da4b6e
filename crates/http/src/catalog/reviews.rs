//! Reviews (`/products/{id}/reviews`, `/reviews/{id}`): one per user and product, never of
//! one's own product, edited by their author and deleted by it or a moderator; with their DTOs.
//! A review carries its `moderation` only for its author and moderators, and a hidden one
//! is shown to no one else (`storefront_domain::ReviewViewer`).

use super::{Viewer, path_id};
use crate::bearer::Authenticated;
use crate::body::{ApiJson, integer, present, present_integer};
use crate::error::{ApiError, Problem};
use crate::query::{Paginated, Pagination};
use crate::responses::{
    BearerUnauthorized, JsonBodyErrors, NotFound, PermissionErrors, ServerErrors, ValidationFailed,
};
use crate::state::{API_PREFIX, AppState};
use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{Data, Path};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefront_app::ports::Page;
use storefront_app::{ReviewInput, review_viewer};
use storefront_domain::{ModerationStatus, ProductId, Review, ReviewAuthor, ReviewId, ReviewModeration, ReviewViewer};
use utoipa::ToSchema;
use uuid::Uuid;

/// A review's author.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "name": "Ada Lovelace"}))]
pub struct ReviewAuthorResponse {
    pub id: Uuid,
    /// The author's display name.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
}

impl From<ReviewAuthor> for ReviewAuthorResponse {
    fn from(a: ReviewAuthor) -> Self {
        Self { id: a.id.as_uuid(), name: a.name }
    }
}

/// Where a review stands in moderation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModerationStatusName {
    /// Shown to everyone (every review until its check says otherwise).
    Approved,
    /// The automatic check found it toxic: hidden until a moderator decides.
    Flagged,
    /// A moderator rejected it: hidden.
    Rejected,
}

impl From<ModerationStatus> for ModerationStatusName {
    fn from(status: ModerationStatus) -> Self {
        match status {
            ModerationStatus::Approved => Self::Approved,
            ModerationStatus::Flagged => Self::Flagged,
            ModerationStatus::Rejected => Self::Rejected,
        }
    }
}

/// A review's moderation, shown to its author and to holders of `reviews:moderate`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "flagged", "toxicity": 0.87, "checked_at": "2025-02-03T18:12:04.5Z"}))]
pub struct ReviewModerationResponse {
    pub status: ModerationStatusName,
    /// The automatic check's toxicity, 0..1; `null` until checked, or when the text was
    /// judged without the model (empty, or addressing the model).
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub toxicity: Option<f64>,
    /// When the status was last set, by the check or a moderator; `null` until then.
    #[schema(required = true)]
    pub checked_at: Option<DateTime<Utc>>,
}

impl From<ReviewModeration> for ReviewModerationResponse {
    fn from(m: ReviewModeration) -> Self {
        Self { status: m.status.into(), toxicity: m.toxicity, checked_at: m.checked_at }
    }
}

/// A review of a product.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a90",
    "product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80",
    "author": {"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "name": "Ada Lovelace"},
    "rating": 5,
    "body": "Sturdy and beautiful.",
    "verified_purchase": true,
    "created_at": "2025-02-03T18:12:00.123456Z",
    "updated_at": "2025-02-03T18:12:00.123456Z"
}))]
pub struct ReviewResponse {
    pub id: Uuid,
    pub product_id: Uuid,
    pub author: ReviewAuthorResponse,
    /// 1..=5 stars.
    #[schema(minimum = 1, maximum = 5, example = 5)]
    pub rating: u8,
    #[schema(example = "Sturdy and beautiful.")]
    pub body: String,
    /// Whether the author has a non-cancelled order of the product.
    pub verified_purchase: bool,
    /// Only for the review's author and holders of `reviews:moderate`; absent for anyone
    /// else.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub moderation: Option<ReviewModerationResponse>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ReviewResponse {
    /// The review as `viewer` is shown it (with its moderation or without).
    pub fn shown_to(r: Review, viewer: &ReviewViewer) -> Self {
        let moderation = viewer.sees_moderation(&r).then(|| r.moderation.into());
        Self {
            id: r.id.0,
            product_id: r.product_id.0,
            author: r.author.into(),
            rating: r.rating,
            body: r.body,
            verified_purchase: r.verified_purchase,
            moderation,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }

    /// A page of reviews as `viewer` is shown them.
    pub fn page(page: Page<Review>, pagination: Pagination, viewer: &ReviewViewer) -> Paginated<Self> {
        let Page { items, total } = page;
        let items = items.into_iter().map(|r| Self::shown_to(r, viewer)).collect();
        Paginated::new(Page { items, total }, pagination)
    }
}

/// A new review.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rating": 5, "body": "Sturdy and beautiful."}))]
pub struct CreateReviewRequest {
    /// 1..=5 stars.
    #[serde(deserialize_with = "integer")]
    #[schema(minimum = 1, maximum = 5, example = 5)]
    pub rating: i64,
    /// At most 2000 characters; `""` when absent.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        max_length = 2000,
        example = "Sturdy and beautiful.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub body: Option<String>,
}

impl From<CreateReviewRequest> for ReviewInput {
    fn from(r: CreateReviewRequest) -> Self {
        ReviewInput { rating: Some(r.rating), body: r.body }
    }
}

/// A partial change of a review: absent fields stay as they are; `null` is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rating": 4}))]
pub struct UpdateReviewRequest {
    #[serde(default, deserialize_with = "present_integer")]
    #[schema(nullable = false, minimum = 1, maximum = 5, example = 4)]
    pub rating: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(
        nullable = false,
        max_length = 2000,
        example = "Still sturdy after a year.",
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub body: Option<String>,
}

impl From<UpdateReviewRequest> for ReviewInput {
    fn from(r: UpdateReviewRequest) -> Self {
        ReviewInput { rating: r.rating, body: r.body }
    }
}

/// A product's reviews
///
/// Newest first. Reviews that moderation hides (`flagged`, `rejected`) are listed only for
/// their author (with their `moderation`); they count for nothing in `total`, nor in the
/// product's `review_count` and `rating_avg`.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}/reviews",
    tag = "reviews",
    operation_id = "list_reviews",
    security((), ("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id"), Pagination),
    responses(
        (status = 200, description = "One page of the product's reviews", body = Paginated<ReviewResponse>,
            example = json!({
                "items": [{
                    "id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a90",
                    "product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80",
                    "author": {"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "name": "Ada Lovelace"},
                    "rating": 5,
                    "body": "Sturdy and beautiful.",
                    "verified_purchase": true,
                    "created_at": "2025-02-03T18:12:00.123456Z",
                    "updated_at": "2025-02-03T18:12:00.123456Z"
                }],
                "total": 1,
                "limit": 20,
                "offset": 0
            })),
        (status = 401, description = "A bearer token was sent but is invalid, expired or revoked (`invalid_token`); \
            without a token the caller is served anonymously",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"storefront\", error=\"invalid_token\"`")),
            example = json!({
                "type": "about:blank", "title": "Unauthorized", "status": 401,
                "detail": "The token is invalid, expired or revoked.", "code": "invalid_token",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn list_reviews(
    viewer: Viewer,
    state: Data<AppState>,
    id: Path<String>,
    pagination: Result<Pagination, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: ProductId = path_id(&id)?;
    let pagination = pagination?;
    let page = state.catalog.reviews(id, pagination.page(), viewer.principal()).await?;
    Ok(HttpResponse::Ok().json(ReviewResponse::page(page, pagination, &review_viewer(viewer.principal()))))
}

/// Review a product
///
/// One review per user and product (a second answers 409 `review_exists`); one's own
/// product cannot be reviewed (403). `verified_purchase` is set when the author has a
/// non-cancelled order of the product.
#[utoipa::path(
    post,
    path = "/api/v1/products/{id}/reviews",
    tag = "reviews",
    operation_id = "create_review",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    request_body = CreateReviewRequest,
    responses(
        (status = 201, description = "The review was created", body = ReviewResponse,
            headers(("Location" = String, description = "`/api/v1/reviews/{id}`"))),
        (status = 401, response = BearerUnauthorized),
        (status = 403, description = "The product is the caller's own (`forbidden`), or the deployment requires a \
            verified email address and the caller's is not (`email_not_verified`)", body = Problem,
            content_type = "application/problem+json",
            examples(
                ("forbidden" = (summary = "forbidden", value = json!({
                    "type": "about:blank", "title": "Forbidden", "status": 403,
                    "detail": "You do not have the permission this action needs.", "code": "forbidden",
                    "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
                }))),
                ("email_not_verified" = (summary = "email_not_verified", value = json!({
                    "type": "about:blank", "title": "Forbidden", "status": 403,
                    "detail": "This action needs a verified email address.", "code": "email_not_verified",
                    "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
                })))
            )),
        (status = 404, response = NotFound),
        (status = 409, description = "The caller has already reviewed this product (`review_exists`)", body = Problem,
            content_type = "application/problem+json",
            example = json!({
                "type": "about:blank", "title": "Conflict", "status": 409,
                "detail": "You have already reviewed this product.", "code": "review_exists",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn create_review(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
    body: Result<ApiJson<CreateReviewRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: ProductId = path_id(&id)?;
    let ApiJson(body) = body?;
    let review = state.catalog.create_review(&caller, id, body.into()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{API_PREFIX}/reviews/{}", review.id)))
        .json(ReviewResponse::shown_to(review, &review_viewer(Some(&caller)))))
}

/// Change a review
///
/// Only its author may; only the fields present change.
#[utoipa::path(
    patch,
    path = "/api/v1/reviews/{id}",
    tag = "reviews",
    operation_id = "update_review",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The review's id")),
    request_body = UpdateReviewRequest,
    responses(
        (status = 200, description = "The changed review", body = ReviewResponse),
        (status = 401, response = BearerUnauthorized),
        (status = 403, description = "The caller is not the review's author (`forbidden`)", body = Problem,
            content_type = "application/problem+json",
            example = json!({
                "type": "about:blank", "title": "Forbidden", "status": 403,
                "detail": "You do not have the permission this action needs.", "code": "forbidden",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        (status = 404, response = NotFound),
        JsonBodyErrors,
        ServerErrors,
    )
)]
pub async fn update_review(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
    body: Result<ApiJson<UpdateReviewRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: ReviewId = path_id(&id)?;
    let ApiJson(body) = body?;
    let review = state.catalog.update_review(&caller, id, body.into()).await?;
    Ok(HttpResponse::Ok().json(ReviewResponse::shown_to(review, &review_viewer(Some(&caller)))))
}

/// A review
///
/// Where the `Location` of a created review points. A review that moderation hides is
/// found only by its author and holders of `reviews:moderate` (404 for anyone else); both
/// see its `moderation`.
#[utoipa::path(
    get,
    path = "/api/v1/reviews/{id}",
    tag = "reviews",
    operation_id = "get_review",
    security((), ("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The review's id")),
    responses(
        (status = 200, description = "The review", body = ReviewResponse),
        (status = 401, description = "A bearer token was sent but is invalid, expired or revoked (`invalid_token`); \
            without a token the caller is served anonymously",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"storefront\", error=\"invalid_token\"`")),
            example = json!({
                "type": "about:blank", "title": "Unauthorized", "status": 401,
                "detail": "The token is invalid, expired or revoked.", "code": "invalid_token",
                "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
            })),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn get_review(viewer: Viewer, state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, ApiError> {
    let review = state.catalog.review(path_id(&id)?, viewer.principal()).await?;
    Ok(HttpResponse::Ok().json(ReviewResponse::shown_to(review, &review_viewer(viewer.principal()))))
}

/// Delete a review
#[utoipa::path(
    delete,
    path = "/api/v1/reviews/{id}",
    tag = "reviews",
    operation_id = "delete_review",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The review's id")),
    responses(
        (status = 204, description = "The review was deleted"),
        PermissionErrors,
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn delete_review(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.catalog.delete_review(&caller, path_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
