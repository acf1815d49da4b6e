//! The assistant's text utilities (`/ai/summarize`, `/ai/moderate`, `/ai/classify`,
//! `/ai/generate`) and their DTOs. Each answers `X-Cache: HIT|MISS`; a request with
//! `Cache-Control: no-cache` skips the cache (a MISS, whose fresh result is stored).

use crate::body::{ApiJson, present};
use crate::error::ApiError;
use crate::permissions::{AiUse, RequirePermission};
use crate::responses::{
    AssistantUnavailable, ChatLimited, InternalError, MalformedBody, PayloadTooLarge, PermissionErrors,
    UnsupportedMediaType, UtilityRejected,
};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use storefront_app::assistant::analysis::{Analysed, CacheMode, CacheStatus};
use storefront_app::{ClassifyInput, GenerateInput, SummarizeInput};
use storefront_domain::{Classification, Moderation};
use utoipa::ToSchema;

/// The response header that says whether the answer came from the cache.
pub const X_CACHE: &str = "x-cache";

/// `Cache-Control: no-cache` (among other directives, any case) asks for a fresh answer.
fn cache_mode(req: &HttpRequest) -> CacheMode {
    let no_cache = req
        .headers()
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-cache"));
    if no_cache { CacheMode::Bypass } else { CacheMode::Use }
}

/// A 200 with `X-Cache`.
fn answer<T: Serialize>(cache: CacheStatus, body: &T) -> HttpResponse {
    HttpResponse::Ok().insert_header((X_CACHE, cache.header_value())).json(body)
}

/// A text to summarize.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "The walnut desk arrived in two days. Assembly took ten minutes and it is sturdy.", "max_chars": 80}))]
pub struct SummarizeRequest {
    /// 1..=20000 characters, not blank. Screened for prompt injection; personal data is
    /// redacted before it is sent.
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    /// The longest summary, in characters: 20..=1000 (default 100).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, minimum = 20, maximum = 1000, default = 100)]
    pub max_chars: Option<i64>,
}

/// A summary.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"summary": "The walnut desk arrived in two days and is sturdy.", "provider": "builtin", "model": "builtin"}))]
pub struct SummarizeResponse {
    /// At most `max_chars` characters.
    pub summary: String,
    pub provider: String,
    pub model: String,
}

/// A text to moderate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Great lamp, but the seller never answered my emails."}))]
pub struct ModerateRequest {
    /// 1..=20000 characters, not blank.
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
}

/// The moderation categories, each a score in 0..=1.
#[derive(Serialize, ToSchema)]
pub struct ModerationCategoriesResponse {
    #[schema(minimum = 0, maximum = 1)]
    pub harassment: f64,
    #[schema(minimum = 0, maximum = 1)]
    pub hate: f64,
    #[schema(minimum = 0, maximum = 1)]
    pub sexual: f64,
    #[schema(minimum = 0, maximum = 1)]
    pub violence: f64,
    #[schema(minimum = 0, maximum = 1)]
    pub self_harm: f64,
    #[schema(minimum = 0, maximum = 1)]
    pub spam: f64,
}

/// A moderation verdict.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "flagged": false,
    "toxicity": 0.04,
    "categories": {"harassment": 0.02, "hate": 0.0, "sexual": 0.0, "violence": 0.0, "self_harm": 0.0, "spam": 0.01},
    "issues": []
}))]
pub struct ModerateResponse {
    /// Whether a moderator should look at it.
    pub flagged: bool,
    #[schema(minimum = 0, maximum = 1)]
    pub toxicity: f64,
    pub categories: ModerationCategoriesResponse,
    /// What was found, in words.
    pub issues: Vec<String>,
}

impl From<Moderation> for ModerateResponse {
    fn from(m: Moderation) -> Self {
        let c = m.categories;
        Self {
            flagged: m.flagged,
            toxicity: m.toxicity,
            categories: ModerationCategoriesResponse {
                harassment: c.harassment,
                hate: c.hate,
                sexual: c.sexual,
                violence: c.violence,
                self_harm: c.self_harm,
                spam: c.spam,
            },
            issues: m.issues,
        }
    }
}

/// A text to classify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "The chair squeaks after a week.", "labels": ["furniture", "lighting", "kitchen"]}))]
pub struct ClassifyRequest {
    /// 1..=20000 characters, not blank.
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    /// 2..=20 labels to choose from, each 1..=100 characters, not blank, none repeated
    /// (ignoring case). Absent: the label is the sentiment's name.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, min_items = 2, max_items = 20)]
    pub labels: Option<Vec<String>>,
}

/// The overall feeling of a text.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SentimentName {
    Positive,
    Neutral,
    Negative,
}

/// A classification.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"label": "furniture", "sentiment": "negative", "confidence": 0.82}))]
pub struct ClassifyResponse {
    /// One of the labels asked for (or, without labels, the sentiment's name).
    pub label: String,
    pub sentiment: SentimentName,
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: f64,
}

impl From<Classification> for ClassifyResponse {
    fn from(c: Classification) -> Self {
        use storefront_domain::Sentiment;
        let sentiment = match c.sentiment {
            Sentiment::Positive => SentimentName::Positive,
            Sentiment::Neutral => SentimentName::Neutral,
            Sentiment::Negative => SentimentName::Negative,
        };
        Self { label: c.label, sentiment, confidence: c.confidence }
    }
}

/// What to write.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GenerationKindName {
    Email,
    BlogPost,
    ProductDescription,
}

/// A text to generate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "product_description", "prompt": "A walnut standing desk for small rooms", "max_words": 80}))]
pub struct GenerateRequest {
    /// `email`, `blog_post` or `product_description`.
    #[schema(value_type = GenerationKindName)]
    pub kind: String,
    /// What to write about: 1..=4000 characters, not blank. Screened and redacted like
    /// every text sent to the provider.
    #[schema(min_length = 1, max_length = 4000)]
    pub prompt: String,
    /// The longest text, in words: 10..=1000 (default 200).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, minimum = 10, maximum = 1000, default = 200)]
    pub max_words: Option<i64>,
}

/// A generated text.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"content": "Meet the walnut standing desk: made for small rooms.", "provider": "builtin", "model": "builtin"}))]
pub struct GenerateResponse {
    /// At most `max_words` words.
    pub content: String,
    pub provider: String,
    pub model: String,
}

/// Summarize a text
///
/// A summary of at most `max_chars` characters. Answers `X-Cache: HIT` when the same text
/// (after Unicode NFKC folding and whitespace collapsing) and parameters were answered by
/// the same provider, model and prompt version within the hour; `Cache-Control: no-cache`
/// asks for a fresh answer. A HIT costs no tokens but counts as a request.
///
/// Limits per user (shared with chat): `ai.requests_per_minute` (429 `rate_limited`) and
/// the daily token budget (429 `ai_budget_exceeded`). A provider that fails answers 503
/// `assistant_unavailable` with `Retry-After`.
#[utoipa::path(
    post,
    path = "/api/v1/ai/summarize",
    tag = "assistant",
    operation_id = "summarize",
    security(("oauth2" = []), ("bearer" = [])),
    params(("Cache-Control" = Option<String>, Header, description = "`no-cache`: skip the cache (the answer is a MISS, and is stored)")),
    request_body = SummarizeRequest,
    responses(
        (status = 200, description = "The summary", body = SummarizeResponse,
            headers(("X-Cache" = String, description = "`HIT` (from the cache) or `MISS`"))),
        PermissionErrors,
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UtilityRejected),
        (status = 429, response = ChatLimited),
        (status = 500, response = InternalError),
        (status = 503, response = AssistantUnavailable),
    )
)]
pub async fn summarize(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    req: HttpRequest,
    body: Result<ApiJson<SummarizeRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let input = SummarizeInput { text: body.text, max_chars: body.max_chars };
    let Analysed { value, provider, model, cache, .. } =
        state.ai_utilities.summarize(caller.principal(), input, cache_mode(&req)).await?;
    Ok(answer(cache, &SummarizeResponse { summary: value, provider, model }))
}

/// Moderate a text
///
/// A verdict: flagged or not, a toxicity score and one score per category (each 0..1),
/// and the issues found. Cached for 30 minutes (`X-Cache`, `Cache-Control: no-cache` as on
/// `/ai/summarize`). Limits and failures as on `/ai/summarize`.
#[utoipa::path(
    post,
    path = "/api/v1/ai/moderate",
    tag = "assistant",
    operation_id = "moderate",
    security(("oauth2" = []), ("bearer" = [])),
    params(("Cache-Control" = Option<String>, Header, description = "`no-cache`: skip the cache (the answer is a MISS, and is stored)")),
    request_body = ModerateRequest,
    responses(
        (status = 200, description = "The verdict", body = ModerateResponse,
            headers(("X-Cache" = String, description = "`HIT` (from the cache) or `MISS`"))),
        PermissionErrors,
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UtilityRejected),
        (status = 429, response = ChatLimited),
        (status = 500, response = InternalError),
        (status = 503, response = AssistantUnavailable),
    )
)]
pub async fn moderate(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    req: HttpRequest,
    body: Result<ApiJson<ModerateRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let analysed = state.ai_utilities.moderate(caller.principal(), body.text, cache_mode(&req)).await?;
    Ok(answer(analysed.cache, &ModerateResponse::from(analysed.value)))
}

/// Classify a text
///
/// The label (of `labels`, or the sentiment's name without them) that fits best, the
/// text's sentiment and the confidence (0..1). Cached for 30 minutes (`X-Cache`,
/// `Cache-Control: no-cache` as on `/ai/summarize`). Limits and failures as on
/// `/ai/summarize`.
#[utoipa::path(
    post,
    path = "/api/v1/ai/classify",
    tag = "assistant",
    operation_id = "classify",
    security(("oauth2" = []), ("bearer" = [])),
    params(("Cache-Control" = Option<String>, Header, description = "`no-cache`: skip the cache (the answer is a MISS, and is stored)")),
    request_body = ClassifyRequest,
    responses(
        (status = 200, description = "The classification", body = ClassifyResponse,
            headers(("X-Cache" = String, description = "`HIT` (from the cache) or `MISS`"))),
        PermissionErrors,
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UtilityRejected),
        (status = 429, response = ChatLimited),
        (status = 500, response = InternalError),
        (status = 503, response = AssistantUnavailable),
    )
)]
pub async fn classify(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    req: HttpRequest,
    body: Result<ApiJson<ClassifyRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let input = ClassifyInput { text: body.text, labels: body.labels };
    let analysed = state.ai_utilities.classify(caller.principal(), input, cache_mode(&req)).await?;
    Ok(answer(analysed.cache, &ClassifyResponse::from(analysed.value)))
}

/// Generate a text
///
/// An e-mail, a blog post or a product description about `prompt`, of at most
/// `max_words` words. Cached for an hour (`X-Cache`, `Cache-Control: no-cache` as on
/// `/ai/summarize`). Limits and failures as on `/ai/summarize`.
#[utoipa::path(
    post,
    path = "/api/v1/ai/generate",
    tag = "assistant",
    operation_id = "generate",
    security(("oauth2" = []), ("bearer" = [])),
    params(("Cache-Control" = Option<String>, Header, description = "`no-cache`: skip the cache (the answer is a MISS, and is stored)")),
    request_body = GenerateRequest,
    responses(
        (status = 200, description = "The text", body = GenerateResponse,
            headers(("X-Cache" = String, description = "`HIT` (from the cache) or `MISS`"))),
        PermissionErrors,
        (status = 400, response = MalformedBody),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UtilityRejected),
        (status = 429, response = ChatLimited),
        (status = 500, response = InternalError),
        (status = 503, response = AssistantUnavailable),
    )
)]
pub async fn generate(
    caller: RequirePermission<AiUse>,
    state: Data<AppState>,
    req: HttpRequest,
    body: Result<ApiJson<GenerateRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body?;
    let input = GenerateInput { kind: body.kind, prompt: body.prompt, max_words: body.max_words };
    let Analysed { value, provider, model, cache, .. } =
        state.ai_utilities.generate(caller.principal(), input, cache_mode(&req)).await?;
    Ok(answer(cache, &GenerateResponse { content: value, provider, model }))
}
