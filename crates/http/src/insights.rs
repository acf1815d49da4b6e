//! The assistant's catalogue features: a product's review summary
//! (`/products/{id}/reviews/summary`), a suggested description for its owner
//! (`/products/{id}/description/suggestion`) and the AI usage report (`/admin/ai-usage`);
//! with their DTOs.

use crate::assistant::has_no_body;
use crate::bearer::Authenticated;
use crate::body::{ApiJson, present};
use crate::catalog::path_id;
use crate::error::{ApiError, FieldError};
use crate::permissions::{AnalyticsRead, RequirePermission};
use crate::query::ApiQuery;
use crate::responses::{
    AssistantUnavailable, ChatLimited, ChatRejected, MalformedBody, NotFound, PayloadTooLarge, PermissionErrors,
    ServerErrors, UnsupportedMediaType, ValidationFailed,
};
use crate::state::AppState;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use storefront_app::assistant::insights::{CostedUsage, ReviewSummaryView, TopUser, UsageReportView};
use storefront_domain::{DailyUsage, ProductId};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A summary of a product's visible reviews.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "summary": "Buyers praise the sturdy frame and easy assembly; a few find it heavier than expected.",
    "review_count": 12,
    "rating_avg": 4.3,
    "generated_at": "2026-12-07T10:15:00Z"
}))]
pub struct ReviewSummaryResponse {
    /// At most 300 characters. `null` when the product has no visible reviews, or while no
    /// summary could be generated yet (the provider failed, or another request is
    /// generating the first one).
    pub summary: Option<String>,
    /// The product's visible reviews now.
    pub review_count: u64,
    /// Their mean rating, one decimal; `null` without reviews.
    pub rating_avg: Option<f64>,
    /// When the summary was generated; `null` with no summary.
    pub generated_at: Option<DateTime<Utc>>,
}

impl From<ReviewSummaryView> for ReviewSummaryResponse {
    fn from(view: ReviewSummaryView) -> Self {
        Self {
            summary: view.summary,
            review_count: view.review_count,
            rating_avg: view.rating_avg,
            generated_at: view.generated_at,
        }
    }
}

/// Summarize a product's reviews
///
/// Public. Made by the assistant's provider from the product's newest (up to 50) visible
/// reviews, and kept: after a review changes the summary is generated again, at most once
/// per product per minute however many reviews, readers and workers ask. Until then the
/// previous summary is served (`generated_at` says how old it is); a read that finds it
/// out of date once the minute has passed generates it first. A product without reviews
/// answers `summary: null`, `review_count: 0`, `rating_avg: null`, `generated_at: null`.
/// `X-Cache` says whether the stored summary was served (`HIT`) or this read made it
/// (`MISS`).
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}/reviews/summary",
    tag = "assistant",
    operation_id = "review_summary",
    params(("id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 200, description = "The summary, with the product's review count and mean rating", body = ReviewSummaryResponse,
            headers(("X-Cache" = String, description = "`HIT` (the stored summary) or `MISS` (made by this read, or none)"))),
        (status = 404, response = NotFound),
        ServerErrors,
    )
)]
pub async fn review_summary(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, ApiError> {
    let id: ProductId = path_id(&id)?;
    let view = state.insights.review_summary(id).await?;
    let cache = view.cache.header_value();
    Ok(HttpResponse::Ok().insert_header((crate::ai_utilities::X_CACHE, cache)).json(ReviewSummaryResponse::from(view)))
}

/// What a description suggestion is asked with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tone": "playful"}))]
pub struct DescriptionSuggestionRequest {
    /// `neutral` (default), `playful` or `premium`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, value_type = Option<String>, pattern = "^(neutral|playful|premium)$", example = "playful")]
    pub tone: Option<String>,
}

/// A suggested product description.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"description": "A sturdy oak desk that fits the smallest room and the biggest plans."}))]
pub struct DescriptionSuggestionResponse {
    /// Not applied: `PATCH /api/v1/products/{id}` applies it if the owner wants it.
    pub description: String,
}

/// Suggest a product description
///
/// Written by the assistant's provider from the product's name, categories and current
/// description (personal data redacted first), in the tone asked for; at most 120 words.
/// Nothing is changed. For the product's owner or a holder of `products:update_any`. It
/// counts like a chat request: against the caller's requests per minute (429
/// `rate_limited`) and daily token budget (429 `ai_budget_exceeded`), and its tokens are
/// the caller's. The body may be left out (neutral tone).
#[utoipa::path(
    post,
    path = "/api/v1/products/{id}/description/suggestion",
    tag = "assistant",
    operation_id = "suggest_description",
    security(("oauth2" = []), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    request_body = DescriptionSuggestionRequest,
    responses(
        (status = 200, description = "The suggestion (not applied)", body = DescriptionSuggestionResponse),
        PermissionErrors,
        (status = 400, response = MalformedBody),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ChatRejected),
        (status = 429, response = ChatLimited),
        (status = 503, response = AssistantUnavailable),
        ServerErrors,
    )
)]
pub async fn suggest_description(
    Authenticated(caller): Authenticated,
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: Result<ApiJson<DescriptionSuggestionRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id: ProductId = path_id(&id)?;
    let tone = if has_no_body(&req) { None } else { body?.0.tone };
    let description = state.insights.suggest_description(&caller, id, tone.as_deref()).await?;
    Ok(HttpResponse::Ok().json(DescriptionSuggestionResponse { description }))
}

/// The period of the usage report, as sent.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AiUsageQuery {
    /// The first day (UTC, `YYYY-MM-DD`, included). Default: 29 days before `to`.
    #[param(value_type = Option<String>, format = Date, example = "2026-11-08")]
    pub from: Option<String>,
    /// The last day (UTC, `YYYY-MM-DD`, included). Default: today. At most 366 days after `from`.
    #[param(value_type = Option<String>, format = Date, example = "2026-12-07")]
    pub to: Option<String>,
}

impl AiUsageQuery {
    fn dates(&self) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ApiError> {
        let mut errors = Vec::new();
        let mut date = |field: &str, raw: &Option<String>| {
            raw.as_deref().and_then(|raw| {
                let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
                if parsed.is_none() {
                    errors.push(FieldError::new(field, "must be a date, YYYY-MM-DD"));
                }
                parsed
            })
        };
        let from = date("from", &self.from);
        let to = date("to", &self.to);
        if errors.is_empty() { Ok((from, to)) } else { Err(ApiError::Validation(errors)) }
    }
}

/// Requests and tokens.
#[derive(Serialize, ToSchema)]
pub struct UsageTotals {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl From<DailyUsage> for UsageTotals {
    fn from(u: DailyUsage) -> Self {
        Self { requests: u.requests, prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens }
    }
}

/// One day's use of one provider and model, every user together.
#[derive(Serialize, ToSchema)]
pub struct ProviderDayResponse {
    #[schema(value_type = String, format = Date, example = "2026-12-07")]
    pub day: NaiveDate,
    /// `builtin`, `openai`; `unknown` for chat usage recorded before providers were.
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// US dollars, by the configured price table (0 for a provider and model it has no
    /// price for, such as `builtin`), to millionths.
    pub cost_usd: f64,
}

impl From<CostedUsage> for ProviderDayResponse {
    fn from(c: CostedUsage) -> Self {
        Self {
            day: c.day,
            provider: c.provider,
            model: c.model,
            requests: c.usage.requests,
            prompt_tokens: c.usage.prompt_tokens,
            completion_tokens: c.usage.completion_tokens,
            cost_usd: c.cost_usd,
        }
    }
}

/// A user among those who used the most tokens in the period.
#[derive(Serialize, ToSchema)]
pub struct TopUserResponse {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// Prompt + completion tokens in the period.
    pub tokens: u64,
    pub requests: u64,
}

impl From<TopUser> for TopUserResponse {
    fn from(u: TopUser) -> Self {
        Self {
            id: u.user_id.as_uuid(),
            email: u.email,
            name: u.name,
            tokens: u.usage.tokens(),
            requests: u.usage.requests,
        }
    }
}

/// The AI usage report.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-08", "to": "2026-12-07",
    "days": [{"day": "2026-12-07", "provider": "openai", "model": "gpt-4o-mini", "requests": 42,
              "prompt_tokens": 51200, "completion_tokens": 9800, "cost_usd": 0.01356}],
    "total": {"requests": 42, "prompt_tokens": 51200, "completion_tokens": 9800},
    "total_cost_usd": 0.01356,
    "top_users": [{"id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a01", "email": "ada@example.com", "name": "Ada",
                   "tokens": 61000, "requests": 42}]
}))]
pub struct AiUsageReportResponse {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// Per day, provider and model with any use; oldest day first.
    pub days: Vec<ProviderDayResponse>,
    pub total: UsageTotals,
    pub total_cost_usd: f64,
    /// The 10 users with the most tokens in the period, most first.
    pub top_users: Vec<TopUserResponse>,
}

impl From<UsageReportView> for AiUsageReportResponse {
    fn from(report: UsageReportView) -> Self {
        Self {
            from: report.period.from,
            to: report.period.to,
            days: report.days.into_iter().map(ProviderDayResponse::from).collect(),
            total: report.total.into(),
            total_cost_usd: report.total_cost_usd,
            top_users: report.top_users.into_iter().map(TopUserResponse::from).collect(),
        }
    }
}

/// Report the assistant's usage and cost
///
/// Requests and tokens per day (UTC), provider and model, their cost by the configured
/// price table (`ai.prices`), and the users with the most tokens, over `from..=to`
/// (default: the last 30 days; at most 366 days). Counts chat turns and description
/// suggestions; review summaries are the shop's own and belong to no user.
#[utoipa::path(
    get,
    path = "/api/v1/admin/ai-usage",
    tag = "assistant",
    operation_id = "ai_usage_report",
    security(("oauth2" = []), ("bearer" = [])),
    params(AiUsageQuery),
    responses(
        (status = 200, description = "The report", body = AiUsageReportResponse),
        PermissionErrors,
        (status = 422, response = ValidationFailed),
        ServerErrors,
    )
)]
pub async fn ai_usage_report(
    _caller: RequirePermission<AnalyticsRead>,
    state: Data<AppState>,
    query: Result<ApiQuery<AiUsageQuery>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiQuery(query) = query?;
    let (from, to) = query.dates()?;
    let report = state.insights.usage_report(from, to).await?;
    Ok(HttpResponse::Ok().json(AiUsageReportResponse::from(report)))
}
