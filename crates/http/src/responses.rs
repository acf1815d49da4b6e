//! The reusable problem-details responses the operations' `#[utoipa::path]` refer to, and
//! the groups of them most operations share (server, permission and JSON-body errors).

use crate::error::{ApiError, FieldError, OAuthErrorCode, PROBLEM_JSON};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToResponse};

const EXAMPLE_REQUEST_ID: &str = "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59";

/// One example of a problem body: a name and the error whose body it shows.
struct ProblemExample {
    name: &'static str,
    error: ApiError,
}

const fn example(name: &'static str, error: ApiError) -> ProblemExample {
    ProblemExample { name, error }
}

fn conflict(why: &str) -> ApiError {
    ApiError::Conflict(why.to_owned())
}

/// A validation error naming one field.
fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, message)])
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

/// A problem-details response with its examples and headers.
fn problem(description: &str, examples: Vec<ProblemExample>, headers: &[(&str, &str)]) -> RefOr<Response> {
    // The body `error_response` sends, so the examples cannot drift from it.
    let examples = examples.into_iter().map(|e| {
        let (_, code) = e.error.status_and_code();
        let value = e.error.problem(EXAMPLE_REQUEST_ID.to_owned()).and_then(|p| serde_json::to_value(p).ok());
        (e.name, ExampleBuilder::new().summary(code).value(value).build())
    });
    let content =
        ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).examples_from_iter(examples).build();
    let mut response = ResponseBuilder::new().description(description).content(PROBLEM_JSON, content);
    for (name, description) in headers {
        response = response.header(*name, string_header(description));
    }
    RefOr::T(response.build())
}

const CHALLENGE: (&str, &str) = (
    "WWW-Authenticate",
    "`Bearer realm=\"storefront\"` when no token was sent; with `, error=\"invalid_token\"` when the token is not valid",
);
const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait before retrying");

/// Declares reusable responses (`ToResponse`), each named after its type.
macro_rules! reusable_responses {
    ($($(#[$doc:meta])* $name:ident => $build:expr;)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), $build)
                }
            }
        )+
    };
}

reusable_responses! {
    /// 422 `validation_failed`.
    ValidationFailed => problem(
        "A field is missing, of the wrong type, unknown, `null` where a value is needed, or fails a rule",
        vec![
            example("missing_field", invalid("email", "missing field `email`")),
            example("unknown_field", invalid("role", "unknown field `role`, expected `name` or `email`")),
            example("policy", invalid("password", "must be at least 8 characters")),
        ],
        &[],
    );
    /// 400 `malformed_body`.
    MalformedBody => problem(
        "The body is empty or not JSON",
        vec![example("malformed_body", ApiError::MalformedBody("EOF while parsing an object".into()))],
        &[],
    );
    /// 415 `unsupported_media_type`.
    UnsupportedMediaType => problem(
        "The body was sent with another Content-Type than the endpoint takes",
        vec![example("unsupported_media_type", ApiError::UnsupportedMediaType("application/json"))],
        &[],
    );
    /// 413 `payload_too_large`.
    PayloadTooLarge => problem(
        "The body is larger than the configured limit (64 KiB by default)",
        vec![example("payload_too_large", ApiError::PayloadTooLarge { limit: 65536 })],
        &[],
    );
    /// 401 `unauthorized` / `invalid_token` on a bearer-protected operation.
    BearerUnauthorized => problem(
        "No bearer token was sent (`unauthorized`), or it is invalid, expired or revoked (`invalid_token`)",
        vec![
            example("unauthorized", ApiError::Unauthorized),
            example("invalid_token", ApiError::InvalidToken),
        ],
        &[CHALLENGE],
    );
    /// 401 on a password change: no or bad token, or a wrong current password.
    PasswordChangeUnauthorized => problem(
        "No bearer token (`unauthorized`), a bad one (`invalid_token`), or a wrong current password (`invalid_credentials`)",
        vec![
            example("unauthorized", ApiError::Unauthorized),
            example("invalid_token", ApiError::InvalidToken),
            example("invalid_credentials", ApiError::InvalidCredentials),
        ],
        &[CHALLENGE],
    );
    /// 401 `invalid_token` for a refresh token.
    InvalidRefreshToken => problem(
        "The refresh token is unknown, expired, revoked or already spent",
        vec![example("invalid_token", ApiError::InvalidToken)],
        &[CHALLENGE],
    );
    /// 404 `not_found`.
    NotFound => problem(
        "No such resource (or it belongs to someone else, or the id is not a UUID)",
        vec![example("not_found", ApiError::NotFound)],
        &[],
    );
    /// 403 `forbidden`: authenticated, without the permission the operation needs.
    Forbidden => problem(
        "The caller is authenticated but lacks the permission the operation needs (see `x-required-permission`)",
        vec![example("forbidden", ApiError::Forbidden)],
        &[],
    );
    /// 409 `conflict`.
    Conflict => problem(
        "The change conflicts with the resource's current state",
        vec![
            example("exists", conflict("the role `editor` already exists")),
            example("builtin", conflict("`moderator` is a built-in role and cannot be deleted")),
            example("held", conflict("the role `editor` is still held by users")),
            example("admin_grants", conflict("`admin` always holds every permission; its grants cannot change")),
            example("last_admin", conflict("this is the last active admin: it can be neither demoted, deactivated nor deleted")),
        ],
        &[],
    );
    /// 409 `invalid_transition`: an order's status does not allow the move.
    InvalidTransition => problem(
        "The order's current status does not allow this move (`invalid_transition`); nothing changed",
        vec![example("invalid_transition", ApiError::InvalidTransition("An order cannot move from delivered to cancelled".into()))],
        &[],
    );
    /// 409 of an order placement: short stock, or the idempotency key's first request still running.
    PlacementConflict => problem(
        "A line exceeds the stock (`insufficient_stock`: one entry in `errors` per short line, nothing was ordered), \
         or the Idempotency-Key's first request is still running (`conflict`)",
        vec![
            example(
                "insufficient_stock",
                ApiError::InsufficientStock(vec![FieldError {
                    product_id: Some(uuid::Uuid::from_u128(0x0192f5a4_3c1e_7d2a_9b7e_5f1d2c3b4a80)),
                    requested: Some(2),
                    available: Some(1),
                    ..FieldError::new("items[0].quantity", "only 1 in stock, 2 requested")
                }]),
            ),
            example("in_flight", conflict("a request with this Idempotency-Key is still being processed")),
        ],
        &[],
    );
    /// 422 of an order placement: an invalid body or key, or a key used with another body.
    PlacementRejected => problem(
        "A field is missing, unknown or invalid (`validation_failed`: 1..=50 lines, quantity 1..=1000, each product \
         once and existing, a well-formed `Idempotency-Key`), or the Idempotency-Key was used with another body \
         (`idempotency_key_reused`)",
        vec![
            example("unknown_product", invalid("items[0].product_id", "no such product")),
            example("idempotency_key_reused", ApiError::IdempotencyKeyReused),
        ],
        &[],
    );
    /// 409 `email_taken`.
    EmailTaken => problem(
        "Another account has this email (compared case-insensitively, after trimming)",
        vec![example("email_taken", ApiError::EmailTaken)],
        &[],
    );
    /// 503 `service_unavailable`.
    ServiceUnavailable => problem(
        "The database cannot be reached right now; retry after `Retry-After` seconds",
        vec![example("service_unavailable", ApiError::Unavailable(String::new()))],
        &[RETRY_AFTER],
    );
    /// 429 `rate_limited` on the rate-limited operations.
    RateLimited => problem(
        "Too many requests from this client IP, or too many failed logins of this account; retry after \
         `Retry-After` seconds (the current window's end)",
        vec![example("rate_limited", ApiError::RateLimited { retry_after_secs: 42 })],
        &[RETRY_AFTER],
    );
    /// 422 on `POST /ai/chat`: `validation_failed` or `prompt_rejected`.
    ChatRejected => problem(
        "A field is missing or invalid (`validation_failed`), or the message looks like a prompt injection \
         (`prompt_rejected`: instruction overrides, role-play jailbreaks, system-prompt extraction, also hidden \
         by invisible characters, look-alike letters or base64)",
        vec![
            example("validation_failed", invalid("message", "must be at most 4000 characters")),
            example("prompt_rejected", ApiError::PromptRejected("instruction_override")),
        ],
        &[],
    );
    /// 422 on the text utilities (`/ai/summarize`…): `validation_failed` or `prompt_rejected`.
    UtilityRejected => problem(
        "A field is missing or out of its bounds (`validation_failed`, naming the field), or a text looks like a \
         prompt injection (`prompt_rejected`)",
        vec![
            example("validation_failed", invalid("text", "must be at most 20000 characters (got 20001)")),
            example("prompt_rejected", ApiError::PromptRejected("instruction_override")),
        ],
        &[],
    );
    /// 429 on `POST /ai/chat` and the text utilities: `rate_limited` or `ai_budget_exceeded`.
    ChatLimited => problem(
        "Too many assistant requests this minute (`rate_limited`; chat and the text utilities count together), \
         or today's token budget is spent (`ai_budget_exceeded`, until 00:00 UTC); retry after `Retry-After` \
         seconds",
        vec![
            example("rate_limited", ApiError::RateLimited { retry_after_secs: 42 }),
            example("ai_budget_exceeded", ApiError::AiBudgetExceeded { retry_after_secs: 5400 }),
        ],
        &[RETRY_AFTER],
    );
    /// 503 on `POST /ai/chat`: `assistant_unavailable` or `service_unavailable`.
    AssistantUnavailable => problem(
        "The assistant's provider failed or timed out before answering (`assistant_unavailable`), or the \
         database cannot be reached (`service_unavailable`); retry after `Retry-After` seconds",
        vec![
            example("assistant_unavailable", ApiError::AssistantUnavailable { retry_after_secs: 5 }),
            example("service_unavailable", ApiError::Unavailable(String::new())),
        ],
        &[RETRY_AFTER],
    );
    /// 422 of an operation spending a link token: a bad body, or `invalid_link`.
    LinkRejected => problem(
        "A field is missing or invalid (`validation_failed`), or the link's token is unknown, already used or \
         expired (`invalid_link`: ask for a new link)",
        vec![
            example("invalid_link", ApiError::InvalidLink),
            example("missing_field", invalid("token", "missing field `token`")),
        ],
        &[],
    );
    /// 422 of a password reset: a bad body or new password, or `invalid_link`.
    ResetRejected => problem(
        "The new password fails the policy, a field is missing (`validation_failed`), or the link's token is \
         unknown, already used or expired (`invalid_link`)",
        vec![
            example("invalid_link", ApiError::InvalidLink),
            example("policy", invalid("new_password", "must be at least 8 characters")),
        ],
        &[],
    );
    /// 403 `email_not_verified` (with `auth.require_verified_email`).
    UnverifiedEmail => problem(
        "The deployment requires a verified email address for this action and the caller's is not \
         (`email_not_verified`)",
        vec![example("email_not_verified", ApiError::EmailNotVerified)],
        &[],
    );
    /// 401 at login: wrong credentials, or the second factor is needed.
    LoginUnauthorized => problem(
        "Unknown email, wrong password or deactivated account (`invalid_credentials`, indistinguishable on \
         purpose); or the password is right and the account has a second factor (`mfa_required`, with an \
         `mfa_token` to POST with a code to `/api/v1/auth/mfa`)",
        vec![
            example("invalid_credentials", ApiError::InvalidCredentials),
            example("mfa_required", ApiError::MfaRequired { mfa_token: "hT4f0Q3c8Jw9vP1xk2LzR5sN7aY6mB0dE3gU9iO2qWc".into() }),
        ],
        &[],
    );
    /// 401 of the login's second step.
    MfaUnauthorized => problem(
        "A wrong TOTP or recovery code (`invalid_code`; counted as a failed login of the account, the `mfa_token` \
         stays usable), or an `mfa_token` that is unknown, used or expired (`invalid_token`: log in again)",
        vec![example("invalid_code", ApiError::InvalidCode), example("invalid_token", ApiError::InvalidToken)],
        &[],
    );
    /// 401 of an operation that needs the password and a second-factor code.
    SecondFactorUnauthorized => problem(
        "No bearer token (`unauthorized`), a bad one (`invalid_token`), a wrong current password \
         (`invalid_credentials`) or a wrong code (`invalid_code`); wrong passwords and codes count as failed logins",
        vec![
            example("unauthorized", ApiError::Unauthorized),
            example("invalid_token", ApiError::InvalidToken),
            example("invalid_credentials", ApiError::InvalidCredentials),
            example("invalid_code", ApiError::InvalidCode),
        ],
        &[CHALLENGE],
    );
    /// 422 of a TOTP enrolment's confirmation.
    EnrolmentRejected => problem(
        "The code does not match the pending secret (`invalid_code`), or the body is invalid (`validation_failed`)",
        vec![example("invalid_code", ApiError::InvalidEnrolmentCode), example("missing_field", invalid("code", "missing field `code`"))],
        &[],
    );
    /// 500 `internal`.
    InternalError => problem(
        "An unexpected error; its cause is logged with the request id, never returned",
        vec![example("internal", ApiError::Internal(String::new()))],
        &[],
    );
    /// 400 from the OAuth2 token endpoint (RFC 6749 §5.2), plain JSON.
    OAuthTokenError => {
        let examples = [
            ("invalid_request", OAuthErrorCode::InvalidRequest, "The parameter `grant_type` is missing."),
            ("invalid_grant", OAuthErrorCode::InvalidGrant, "The username or password is not valid."),
            ("unsupported_grant_type", OAuthErrorCode::UnsupportedGrantType, "The grant type `client_credentials` is not supported; use `password` or `refresh_token`."),
        ]
        .map(|(name, code, description)| {
            let value = json!({"error": code.as_str(), "error_description": description});
            (name, ExampleBuilder::new().summary(code.as_str()).value(Some(value)).build())
        });
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("OAuthError"))).examples_from_iter(examples).build();
        RefOr::T(
            ResponseBuilder::new()
                .description(
                    "RFC 6749 §5.2 error (not problem details), with `Cache-Control: no-store`: a missing or repeated \
                     parameter (`invalid_request`), another grant type (`unsupported_grant_type`), or wrong credentials \
                     or a bad refresh token (`invalid_grant`)",
                )
                .content("application/json", content)
                .header("Cache-Control", string_header("`no-store`"))
                .build(),
        )
    };
}

/// 403 `mfa_required` from the OAuth2 token endpoint, in RFC 6749's error shape.
pub struct OAuthMfaRequired;

impl<'r> ToResponse<'r> for OAuthMfaRequired {
    fn response() -> (&'r str, RefOr<Response>) {
        let value = json!({
            "error": OAuthErrorCode::MfaRequired.as_str(),
            "error_description": "The account has a second factor: present the mfa_token with a code.",
            "mfa_token": "hT4f0Q3c8Jw9vP1xk2LzR5sN7aY6mB0dE3gU9iO2qWc"
        });
        let example = ExampleBuilder::new().summary("mfa_required").value(Some(value)).build();
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("OAuthError")))
            .examples_from_iter([("mfa_required", example)])
            .build();
        let response = ResponseBuilder::new()
            .description(
                "The password grant's credentials are right and the account has a second factor: `mfa_required` with \
                 an `mfa_token` for the grant `urn:storefront:grant-type:mfa-otp` (or `POST /api/v1/auth/mfa`)",
            )
            .content("application/json", content)
            .header("Cache-Control", string_header("`no-store`"))
            .build();
        ("OAuthMfaRequired", RefOr::T(response))
    }
}

/// A reference to a reusable response declared above.
fn reference<'r, R: ToResponse<'r>>() -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(R::response().0))
}

/// The errors of any operation that touches the database: 500 and 503.
pub struct ServerErrors;

impl IntoResponses for ServerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [("500", reference::<InternalError>()), ("503", reference::<ServiceUnavailable>())]
            .into_iter()
            .map(|(status, response)| (status.to_owned(), response))
            .collect()
    }
}

/// The errors of any permission-protected operation: 401 (no or a bad token) and 403
/// (authenticated, without the permission).
pub struct PermissionErrors;

impl IntoResponses for PermissionErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [("401", reference::<BearerUnauthorized>()), ("403", reference::<Forbidden>())]
            .into_iter()
            .map(|(status, response)| (status.to_owned(), response))
            .collect()
    }
}

/// The errors of any operation that takes a JSON body: 400, 413, 415 and 422.
pub struct JsonBodyErrors;

impl IntoResponses for JsonBodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", reference::<MalformedBody>()),
            ("413", reference::<PayloadTooLarge>()),
            ("415", reference::<UnsupportedMediaType>()),
            ("422", reference::<ValidationFailed>()),
        ]
        .into_iter()
        .map(|(status, response)| (status.to_owned(), response))
        .collect()
    }
}
