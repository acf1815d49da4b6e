//! `ApiError`, the one error type of the HTTP adapter, and its single mapping to a status,
//! a problem `code` and an RFC 9457 problem-details body (or, for the OAuth2 token endpoint,
//! an RFC 6749 §5.2 error body).

use crate::request_id::current_request_id;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use storefront_app::AppError;
use storefront_domain::FieldViolation;
use utoipa::ToSchema;

/// The media type of every problem-details body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What `WWW-Authenticate` says on a 401 when no (bearer) credentials were sent.
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="storefront""#;

/// What `WWW-Authenticate` says on a 401 when a token was sent but is not valid.
pub const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer realm="storefront", error="invalid_token""#;

/// Seconds a client should wait before retrying after a 503 (the pool's wait timeout).
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// Every way a request can fail, as the HTTP adapter sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Fields of the request are missing, of the wrong type, unknown or invalid.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// The body is not JSON at all (or empty).
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// The body's `Content-Type` is not what the endpoint takes (the expected type).
    #[error("unsupported media type; expected {0}")]
    UnsupportedMediaType(&'static str),
    /// The body is larger than the configured limit.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// No bearer credentials were sent.
    #[error("no credentials")]
    Unauthorized,
    /// A token was sent but is invalid, expired or revoked.
    #[error("invalid token")]
    InvalidToken,
    /// Wrong email or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden,
    /// No such resource (or a path id that is not a UUID).
    #[error("not found")]
    NotFound,
    /// No route has this path: a `not_found` problem that says where the paths are listed.
    #[error("no such path")]
    NoSuchPath,
    /// The method is not offered on this path; `allow` lists the ones that are.
    #[error("method not allowed (allow: {allow})")]
    MethodNotAllowed { allow: String },
    #[error("email taken")]
    EmailTaken,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller has already reviewed this product.
    #[error("review exists")]
    ReviewExists,
    /// Order lines the stock cannot serve, one error per short line.
    #[error("insufficient stock")]
    InsufficientStock(Vec<FieldError>),
    #[error("invalid transition: {0}")]
    InvalidTransition(String),
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// A link token (verification, reset, email change) that is unknown, spent or expired.
    #[error("invalid link")]
    InvalidLink,
    /// The action needs a verified email address.
    #[error("email not verified")]
    EmailNotVerified,
    /// The password was right; the login continues at `POST /auth/mfa` with `mfa_token`.
    #[error("mfa required")]
    MfaRequired { mfa_token: String },
    /// A wrong second-factor code proving the caller's identity.
    #[error("invalid code")]
    InvalidCode,
    /// A wrong code confirming a TOTP enrolment.
    #[error("invalid enrolment code")]
    InvalidEnrolmentCode,
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A dependency cannot serve now (the cause is logged, never shown).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A chat message the injection screen refused (which kind, for the detail).
    #[error("prompt rejected: {0}")]
    PromptRejected(&'static str),
    /// The caller's daily token budget is spent until 00:00 UTC.
    #[error("daily token budget spent; retry in {retry_after_secs} s")]
    AiBudgetExceeded { retry_after_secs: u64 },
    /// The assistant's provider failed or timed out.
    #[error("assistant unavailable; retry in {retry_after_secs} s")]
    AssistantUnavailable { retry_after_secs: u64 },
    /// Anything else (the cause is logged, never shown).
    #[error("internal: {0}")]
    Internal(String),
    /// A grant error of the OAuth2 token endpoint (RFC 6749 §5.2), not a problem document.
    #[error("oauth2 {}: {}", .0.error.as_str(), .0.description)]
    OAuth(OAuthError),
}

/// One invalid field of a request: its path (`email`, `items[0].product_id`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"field": "email", "message": "must be a valid email address"}))]
pub struct FieldError {
    /// Path of the field in the request body (`email`, `items[0].product_id`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// For `insufficient_stock`: the short line's product.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub product_id: Option<uuid::Uuid>,
    /// For `insufficient_stock`: the quantity asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub requested: Option<i64>,
    /// For `insufficient_stock`: the quantity in stock.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub available: Option<i64>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), product_id: None, requested: None, available: None }
    }
}

impl From<FieldViolation> for FieldError {
    fn from(v: FieldViolation) -> Self {
        Self::new(v.field, v.message)
    }
}

/// RFC 9457 problem details, as every error of the API (but the OAuth2 grant errors) is sent.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Conflict",
    "status": 409,
    "detail": "An account with this email already exists.",
    "code": "email_taken",
    "request_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59"
}))]
pub struct Problem {
    /// Always `about:blank`: `code` says what happened.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub problem_type: &'static str,
    /// The status code's canonical reason phrase.
    #[schema(example = "Conflict")]
    pub title: &'static str,
    /// The HTTP status code.
    #[schema(example = 409)]
    pub status: u16,
    /// A human-readable explanation of this occurrence.
    pub detail: String,
    /// Stable, machine-readable error code.
    #[schema(example = "email_taken")]
    pub code: &'static str,
    /// The request's `X-Request-Id`, also found in the server's log lines.
    pub request_id: String,
    /// For `validation_failed`: every invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub errors: Option<Vec<FieldError>>,
    /// For `mfa_required`: the token to present with the second factor at
    /// `POST /api/v1/auth/mfa` (single use, valid 5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mfa_token: Option<String>,
}

/// The `error` values of RFC 6749 §5.2 this server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidGrant,
    UnsupportedGrantType,
    /// Not RFC 6749's: the password was right and the account has a second factor (403,
    /// with `mfa_token`).
    MfaRequired,
}

impl OAuthErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::MfaRequired => "mfa_required",
        }
    }

    /// 400 for RFC 6749's errors; 403 for `mfa_required` (the grant was right, the account
    /// needs more).
    pub const fn status(self) -> StatusCode {
        match self {
            OAuthErrorCode::MfaRequired => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An OAuth2 token-endpoint error (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_grant", "error_description": "The credentials or the refresh token are not valid."}))]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    #[serde(rename = "error_description")]
    pub description: String,
    /// For `mfa_required`: the token to present with the code, at `/api/v1/auth/mfa` or in
    /// the grant `urn:storefront:grant-type:mfa-otp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mfa_token: Option<String>,
}

impl OAuthError {
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self { error, description: description.into(), mfa_token: None }
    }
}

impl From<OAuthError> for ApiError {
    fn from(err: OAuthError) -> Self {
        ApiError::OAuth(err)
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Validation(violations) => {
                ApiError::Validation(violations.into_iter().map(FieldError::from).collect())
            }
            AppError::NotFound => ApiError::NotFound,
            AppError::Forbidden => ApiError::Forbidden,
            AppError::EmailTaken => ApiError::EmailTaken,
            AppError::Conflict(why) => ApiError::Conflict(why),
            AppError::ReviewExists => ApiError::ReviewExists,
            AppError::InsufficientStock(shortages) => ApiError::InsufficientStock(
                shortages
                    .into_iter()
                    .map(|s| FieldError {
                        field: format!("items[{}].quantity", s.line),
                        message: format!("only {} in stock, {} requested", s.available, s.requested),
                        product_id: Some(s.product_id.0),
                        requested: Some(s.requested),
                        available: Some(s.available),
                    })
                    .collect(),
            ),
            err @ AppError::InvalidTransition { .. } => ApiError::InvalidTransition(err.to_string()),
            AppError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            AppError::InvalidCredentials => ApiError::InvalidCredentials,
            AppError::InvalidToken => ApiError::InvalidToken,
            AppError::RateLimited { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            AppError::InvalidLink => ApiError::InvalidLink,
            AppError::EmailNotVerified => ApiError::EmailNotVerified,
            AppError::MfaRequired { mfa_token } => ApiError::MfaRequired { mfa_token },
            AppError::InvalidCode => ApiError::InvalidCode,
            AppError::InvalidEnrolmentCode => ApiError::InvalidEnrolmentCode,
            AppError::Unavailable(why) => ApiError::Unavailable(why),
            AppError::Internal(why) => ApiError::Internal(why),
            AppError::PromptRejected(kind) => ApiError::PromptRejected(kind.as_str()),
            AppError::AiBudgetExceeded { retry_after_secs } => ApiError::AiBudgetExceeded { retry_after_secs },
            AppError::AssistantUnavailable { retry_after_secs } => ApiError::AssistantUnavailable { retry_after_secs },
        }
    }
}

/// Declares `Code`: each problem `code` once, with its status.
macro_rules! problem_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal => $status:ident;)+) => {
        /// Every problem `code` the API answers, with its status (and so its title): the one
        /// table of both. `ApiError::code` says which error answers which code, and the
        /// OpenAPI examples (`responses`) are built from `ApiError` values, so the document
        /// shows what is sent.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($(#[$doc])* $variant,)+
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &[Code] = &[$(Code::$variant),+];

            /// The stable, machine-readable `code` of the problem body.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)+
                }
            }

            pub const fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status,)+
                }
            }
        }
    };
}

problem_codes! {
    ValidationFailed = "validation_failed" => UNPROCESSABLE_ENTITY;
    MalformedBody = "malformed_body" => BAD_REQUEST;
    UnsupportedMediaType = "unsupported_media_type" => UNSUPPORTED_MEDIA_TYPE;
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE;
    Unauthorized = "unauthorized" => UNAUTHORIZED;
    InvalidToken = "invalid_token" => UNAUTHORIZED;
    InvalidCredentials = "invalid_credentials" => UNAUTHORIZED;
    Forbidden = "forbidden" => FORBIDDEN;
    NotFound = "not_found" => NOT_FOUND;
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED;
    EmailTaken = "email_taken" => CONFLICT;
    Conflict = "conflict" => CONFLICT;
    ReviewExists = "review_exists" => CONFLICT;
    InsufficientStock = "insufficient_stock" => CONFLICT;
    InvalidTransition = "invalid_transition" => CONFLICT;
    IdempotencyKeyReused = "idempotency_key_reused" => UNPROCESSABLE_ENTITY;
    RateLimited = "rate_limited" => TOO_MANY_REQUESTS;
    InvalidLink = "invalid_link" => UNPROCESSABLE_ENTITY;
    EmailNotVerified = "email_not_verified" => FORBIDDEN;
    MfaRequired = "mfa_required" => UNAUTHORIZED;
    /// A wrong second-factor code where it proves who the caller is (a login's second
    /// step, turning the factor off).
    InvalidCode = "invalid_code" => UNAUTHORIZED;
    /// The same `code` at 422, as the contract has it: a wrong first code confirming an
    /// enrolment is a bad request, not a failed authentication.
    InvalidEnrolmentCode = "invalid_code" => UNPROCESSABLE_ENTITY;
    ServiceUnavailable = "service_unavailable" => SERVICE_UNAVAILABLE;
    Internal = "internal" => INTERNAL_SERVER_ERROR;
    PromptRejected = "prompt_rejected" => UNPROCESSABLE_ENTITY;
    AiBudgetExceeded = "ai_budget_exceeded" => TOO_MANY_REQUESTS;
    AssistantUnavailable = "assistant_unavailable" => SERVICE_UNAVAILABLE;
}

impl Code {
    /// The status code's canonical reason phrase, the problem's `title`.
    pub fn title(self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }
}

impl ApiError {
    /// The problem code of this error; `None` for the OAuth2 grant errors, which are sent
    /// in RFC 6749's shape with status 400.
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            ApiError::Validation(_) => Code::ValidationFailed,
            ApiError::MalformedBody(_) => Code::MalformedBody,
            ApiError::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            ApiError::PayloadTooLarge { .. } => Code::PayloadTooLarge,
            ApiError::Unauthorized => Code::Unauthorized,
            ApiError::InvalidToken => Code::InvalidToken,
            ApiError::InvalidCredentials => Code::InvalidCredentials,
            ApiError::Forbidden => Code::Forbidden,
            ApiError::NotFound | ApiError::NoSuchPath => Code::NotFound,
            ApiError::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            ApiError::EmailTaken => Code::EmailTaken,
            ApiError::Conflict(_) => Code::Conflict,
            ApiError::ReviewExists => Code::ReviewExists,
            ApiError::InsufficientStock(_) => Code::InsufficientStock,
            ApiError::InvalidTransition(_) => Code::InvalidTransition,
            ApiError::IdempotencyKeyReused => Code::IdempotencyKeyReused,
            ApiError::RateLimited { .. } => Code::RateLimited,
            ApiError::InvalidLink => Code::InvalidLink,
            ApiError::EmailNotVerified => Code::EmailNotVerified,
            ApiError::MfaRequired { .. } => Code::MfaRequired,
            ApiError::InvalidCode => Code::InvalidCode,
            ApiError::InvalidEnrolmentCode => Code::InvalidEnrolmentCode,
            ApiError::Unavailable(_) => Code::ServiceUnavailable,
            ApiError::Internal(_) => Code::Internal,
            ApiError::PromptRejected(_) => Code::PromptRejected,
            ApiError::AiBudgetExceeded { .. } => Code::AiBudgetExceeded,
            ApiError::AssistantUnavailable { .. } => Code::AssistantUnavailable,
            ApiError::OAuth(_) => return None,
        })
    }

    /// The status and the `code` (a problem code, or an RFC 6749 `error`).
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match (self, self.code()) {
            (_, Some(code)) => (code.status(), code.as_str()),
            (ApiError::OAuth(err), None) => (err.error.status(), err.error.as_str()),
            (_, None) => (StatusCode::INTERNAL_SERVER_ERROR, Code::Internal.as_str()),
        }
    }

    /// The problem-details body of this error, with the given request id (`None` for the
    /// OAuth2 grant errors).
    pub fn problem(&self, request_id: String) -> Option<Problem> {
        let code = self.code()?;
        Some(Problem {
            problem_type: "about:blank",
            title: code.title(),
            status: code.status().as_u16(),
            detail: self.detail(),
            code: code.as_str(),
            request_id,
            errors: match self {
                ApiError::Validation(errors) | ApiError::InsufficientStock(errors) => Some(errors.clone()),
                _ => None,
            },
            mfa_token: match self {
                ApiError::MfaRequired { mfa_token } => Some(mfa_token.clone()),
                _ => None,
            },
        })
    }

    /// The `detail` shown to the client: never an internal cause.
    fn detail(&self) -> String {
        match self {
            ApiError::Validation(_) => "One or more fields are missing or invalid; see `errors`.".into(),
            ApiError::MalformedBody(why) => format!("The request body is not valid JSON: {why}."),
            ApiError::UnsupportedMediaType(expected) => format!("The request body must be sent as {expected}."),
            ApiError::PayloadTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            ApiError::Unauthorized => "This endpoint needs a bearer token in the Authorization header.".into(),
            ApiError::InvalidToken => "The token is invalid, expired or revoked.".into(),
            ApiError::InvalidCredentials => "The credentials are not valid.".into(),
            ApiError::Forbidden => "You do not have the permission this action needs.".into(),
            ApiError::NotFound => "The requested resource does not exist.".into(),
            ApiError::NoSuchPath => "No endpoint has this path. Every path of the API is listed in the OpenAPI \
                                     document at /openapi.json, browsable at /docs."
                .into(),
            ApiError::MethodNotAllowed { allow } => {
                format!("This resource does not support this method; it supports {allow}.")
            }
            ApiError::EmailTaken => "An account with this email already exists.".into(),
            ApiError::Conflict(why) => why.clone(),
            ApiError::ReviewExists => "You have already reviewed this product.".into(),
            ApiError::InsufficientStock(_) => "Some lines exceed the stock; see `errors`. Nothing was ordered.".into(),
            ApiError::InvalidTransition(why) => format!("{why}."),
            ApiError::IdempotencyKeyReused => "This Idempotency-Key was already used with another request body.".into(),
            ApiError::RateLimited { retry_after_secs } => {
                format!("Too many requests; retry in {retry_after_secs} seconds.")
            }
            ApiError::InvalidLink => "The link is unknown, already used or expired; ask for a new one.".into(),
            ApiError::EmailNotVerified => {
                "This action needs a verified email address: open the link we mailed you, or ask for a new one \
                 with POST /api/v1/auth/email/verification."
                    .into()
            }
            ApiError::MfaRequired { .. } => "The password is right; this account also needs its second factor: \
                                             POST the `mfa_token` with a code to /api/v1/auth/mfa."
                .into(),
            ApiError::InvalidCode => "The code is not valid.".into(),
            ApiError::InvalidEnrolmentCode => "The code does not match the authenticator's secret.".into(),
            ApiError::Unavailable(_) => "The service is temporarily unavailable; retry shortly.".into(),
            ApiError::Internal(_) => "An unexpected error occurred.".into(),
            ApiError::PromptRejected(kind) => {
                format!("The message looks like a prompt injection ({kind}) and was not sent to the assistant.")
            }
            ApiError::AiBudgetExceeded { retry_after_secs } => format!(
                "Your daily token budget for the assistant is spent; it is renewed at 00:00 UTC, in {retry_after_secs} seconds."
            ),
            ApiError::AssistantUnavailable { retry_after_secs } => {
                format!("The assistant's provider is unavailable; retry in {retry_after_secs} seconds.")
            }
            ApiError::OAuth(err) => err.description.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, _) = self.status_and_code();
        let request_id = current_request_id().unwrap_or_default();
        match self {
            ApiError::Internal(cause) => tracing::error!(request_id = %request_id, cause = %cause, "internal error"),
            ApiError::Unavailable(cause) => {
                tracing::warn!(request_id = %request_id, cause = %cause, "dependency unavailable")
            }
            // Whoever was refused is on the request's span (`user_id`).
            ApiError::Forbidden => {
                tracing::warn!(security_event = "permission_denied", request_id = %request_id, "permission denied")
            }
            _ => {}
        }

        if let ApiError::OAuth(err) = self {
            return HttpResponse::build(status)
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
                .json(err);
        }

        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            // A wrong code is refused credentials too (RFC 6750's challenge on the bearer
            // endpoint that takes it, `DELETE /users/me/mfa/totp`).
            ApiError::Unauthorized | ApiError::InvalidCredentials | ApiError::InvalidCode => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(BEARER_CHALLENGE)));
            }
            ApiError::InvalidToken => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(INVALID_TOKEN_CHALLENGE)));
            }
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.insert_header((header::ALLOW, value));
                }
            }
            ApiError::RateLimited { retry_after_secs }
            | ApiError::AiBudgetExceeded { retry_after_secs }
            | ApiError::AssistantUnavailable { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS)));
            }
            _ => {}
        }

        let problem = self.problem(request_id);
        response.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

/// Both values, or one 422 naming every invalid field of both.
pub(crate) fn merge_errors<A, B>(a: Result<A, ApiError>, b: Result<B, ApiError>) -> Result<(A, B), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(ApiError::Validation(mut first)), Err(ApiError::Validation(second))) => {
            first.extend(second);
            Err(ApiError::Validation(first))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn every_error() -> Vec<(ApiError, u16, &'static str)> {
        vec![
            (
                ApiError::Validation(vec![FieldError::new("email", "must be a valid email address")]),
                422,
                "validation_failed",
            ),
            (ApiError::MalformedBody("expected value".into()), 400, "malformed_body"),
            (ApiError::UnsupportedMediaType("application/json"), 415, "unsupported_media_type"),
            (ApiError::PayloadTooLarge { limit: 10 }, 413, "payload_too_large"),
            (ApiError::Unauthorized, 401, "unauthorized"),
            (ApiError::InvalidToken, 401, "invalid_token"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (ApiError::Forbidden, 403, "forbidden"),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::NoSuchPath, 404, "not_found"),
            (ApiError::MethodNotAllowed { allow: "GET, HEAD".into() }, 405, "method_not_allowed"),
            (ApiError::EmailTaken, 409, "email_taken"),
            (ApiError::Conflict("the last admin cannot be demoted".into()), 409, "conflict"),
            (ApiError::ReviewExists, 409, "review_exists"),
            (
                ApiError::InsufficientStock(vec![FieldError::new("items[0].quantity", "short")]),
                409,
                "insufficient_stock",
            ),
            (
                ApiError::InvalidTransition("An order cannot move from delivered to paid".into()),
                409,
                "invalid_transition",
            ),
            (ApiError::IdempotencyKeyReused, 422, "idempotency_key_reused"),
            (ApiError::RateLimited { retry_after_secs: 30 }, 429, "rate_limited"),
            (ApiError::InvalidLink, 422, "invalid_link"),
            (ApiError::EmailNotVerified, 403, "email_not_verified"),
            (ApiError::MfaRequired { mfa_token: "t".into() }, 401, "mfa_required"),
            (ApiError::InvalidCode, 401, "invalid_code"),
            (ApiError::InvalidEnrolmentCode, 422, "invalid_code"),
            (ApiError::Unavailable("pool timed out".into()), 503, "service_unavailable"),
            (ApiError::Internal("boom".into()), 500, "internal"),
            (ApiError::PromptRejected("instruction_override"), 422, "prompt_rejected"),
            (ApiError::AiBudgetExceeded { retry_after_secs: 3600 }, 429, "ai_budget_exceeded"),
            (ApiError::AssistantUnavailable { retry_after_secs: 5 }, 503, "assistant_unavailable"),
            (ApiError::OAuth(OAuthError::new(OAuthErrorCode::InvalidRequest, "x")), 400, "invalid_request"),
            (ApiError::OAuth(OAuthError::new(OAuthErrorCode::InvalidGrant, "x")), 400, "invalid_grant"),
            (
                ApiError::OAuth(OAuthError::new(OAuthErrorCode::UnsupportedGrantType, "x")),
                400,
                "unsupported_grant_type",
            ),
            (ApiError::OAuth(OAuthError::new(OAuthErrorCode::MfaRequired, "x")), 403, "mfa_required"),
        ]
    }

    fn body_json(response: HttpResponse) -> serde_json::Value {
        let bytes = response.into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn header(response: &HttpResponse, name: header::HeaderName) -> Option<String> {
        response.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn every_code_of_the_table_is_answered_by_some_error() {
        let answered: Vec<Code> = every_error().iter().filter_map(|(e, ..)| e.code()).collect();
        for code in Code::ALL {
            assert!(answered.contains(code), "no error answers {code:?}");
        }
    }

    #[test]
    fn every_error_maps_to_its_status_and_code() {
        for (error, status, code) in every_error() {
            assert_eq!(error.status_and_code(), (StatusCode::from_u16(status).unwrap(), code), "{error:?}");
            assert_eq!(error.status_code().as_u16(), status);
        }
    }

    #[test]
    fn problems_carry_the_canonical_title_the_code_and_problem_json() {
        for (error, status, code) in every_error().into_iter().filter(|(e, ..)| !matches!(e, ApiError::OAuth(_))) {
            let response = error.error_response();
            assert_eq!(header(&response, header::CONTENT_TYPE).as_deref(), Some(PROBLEM_JSON));
            let body = body_json(response);
            assert_eq!(body["type"], "about:blank");
            assert_eq!(body["status"], status);
            assert_eq!(body["code"], code);
            assert_eq!(body["title"], StatusCode::from_u16(status).unwrap().canonical_reason().unwrap());
            assert!(body["request_id"].is_string());
            assert_eq!(body.get("errors").is_some(), ["validation_failed", "insufficient_stock"].contains(&code));
        }
    }

    #[test]
    fn every_app_error_has_its_api_error() {
        let cases = [
            (AppError::validation("email", "bad"), "validation_failed"),
            (AppError::NotFound, "not_found"),
            (AppError::Forbidden, "forbidden"),
            (AppError::EmailTaken, "email_taken"),
            (AppError::Conflict("x".into()), "conflict"),
            (AppError::ReviewExists, "review_exists"),
            (AppError::InvalidCredentials, "invalid_credentials"),
            (AppError::InvalidToken, "invalid_token"),
            (AppError::RateLimited { retry_after_secs: 5 }, "rate_limited"),
            (AppError::InvalidLink, "invalid_link"),
            (AppError::EmailNotVerified, "email_not_verified"),
            (AppError::MfaRequired { mfa_token: "t".into() }, "mfa_required"),
            (AppError::InvalidCode, "invalid_code"),
            (AppError::InvalidEnrolmentCode, "invalid_code"),
            (AppError::Unavailable("db down".into()), "service_unavailable"),
            (AppError::Internal("bug".into()), "internal"),
        ];
        for (app, code) in cases {
            assert_eq!(ApiError::from(app).status_and_code().1, code);
        }
    }

    #[test]
    fn mfa_required_carries_its_token_in_the_problem_and_the_oauth_error() {
        let body = body_json(ApiError::MfaRequired { mfa_token: "abc".into() }.error_response());
        assert_eq!((body["code"].as_str(), body["mfa_token"].as_str()), (Some("mfa_required"), Some("abc")));
        let oauth = OAuthError { mfa_token: Some("abc".into()), ..OAuthError::new(OAuthErrorCode::MfaRequired, "x") };
        let r = ApiError::OAuth(oauth).error_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            body_json(r),
            serde_json::json!({"error": "mfa_required", "error_description": "x", "mfa_token": "abc"})
        );
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let body = body_json(ApiError::Internal("password_hash column missing".into()).error_response());
        assert!(!body.to_string().contains("password_hash"));
        let body = body_json(ApiError::Unavailable("connection refused to 10.0.0.5".into()).error_response());
        assert!(!body.to_string().contains("10.0.0.5"));
    }

    #[test]
    fn challenges_and_retry_hints_are_sent_as_headers() {
        let r = ApiError::Unauthorized.error_response();
        assert_eq!(header(&r, header::WWW_AUTHENTICATE).as_deref(), Some(BEARER_CHALLENGE));
        let r = ApiError::InvalidToken.error_response();
        assert_eq!(header(&r, header::WWW_AUTHENTICATE).as_deref(), Some(INVALID_TOKEN_CHALLENGE));
        let r = ApiError::InvalidCredentials.error_response();
        assert_eq!(header(&r, header::WWW_AUTHENTICATE).as_deref(), Some(BEARER_CHALLENGE));
        let r = ApiError::InvalidCode.error_response();
        assert_eq!(header(&r, header::WWW_AUTHENTICATE).as_deref(), Some(BEARER_CHALLENGE));
        let r = ApiError::MethodNotAllowed { allow: "GET, HEAD".into() }.error_response();
        assert_eq!(header(&r, header::ALLOW).as_deref(), Some("GET, HEAD"));
        let r = ApiError::RateLimited { retry_after_secs: 30 }.error_response();
        assert_eq!(header(&r, header::RETRY_AFTER).as_deref(), Some("30"));
        let r = ApiError::Unavailable("x".into()).error_response();
        assert_eq!(header(&r, header::RETRY_AFTER).as_deref(), Some("2"));
    }

    #[test]
    fn oauth_errors_are_plain_json_in_rfc_6749_shape() {
        let r = ApiError::OAuth(OAuthError::new(OAuthErrorCode::InvalidGrant, "nope")).error_response();
        assert_eq!(header(&r, header::CONTENT_TYPE).as_deref(), Some("application/json"));
        assert_eq!(header(&r, header::CACHE_CONTROL).as_deref(), Some("no-store"));
        assert_eq!(body_json(r), serde_json::json!({"error": "invalid_grant", "error_description": "nope"}));
    }
}
