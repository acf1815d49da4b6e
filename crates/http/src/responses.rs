//! The reusable problem-details responses the operations' `#[utoipa::path]` refer to, and
//! the groups of them most operations share (server, permission and JSON-body errors).

use crate::error::{OAuthErrorCode, PROBLEM_JSON};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToResponse};

const EXAMPLE_REQUEST_ID: &str = "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59";

/// One example of a problem body.
struct ProblemExample {
    name: &'static str,
    status: u16,
    code: &'static str,
    detail: &'static str,
    errors: Option<Value>,
}

const fn example(name: &'static str, status: u16, code: &'static str, detail: &'static str) -> ProblemExample {
    ProblemExample { name, status, code, detail, errors: None }
}

fn title(status: u16) -> &'static str {
    actix_web::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

/// A problem-details response with its examples and headers.
fn problem(description: &str, examples: Vec<ProblemExample>, headers: &[(&str, &str)]) -> RefOr<Response> {
    let examples = examples.into_iter().map(|e| {
        let mut value = json!({
            "type": "about:blank",
            "title": title(e.status),
            "status": e.status,
            "detail": e.detail,
            "code": e.code,
            "request_id": EXAMPLE_REQUEST_ID,
        });
        if let (Some(errors), Some(object)) = (e.errors, value.as_object_mut()) {
            object.insert("errors".into(), errors);
        }
        (e.name, ExampleBuilder::new().summary(e.code).value(Some(value)).build())
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
            ProblemExample {
                errors: Some(json!([{"field": "email", "message": "missing field `email`"}])),
                ..example("missing_field", 422, "validation_failed", "One or more fields are missing or invalid; see `errors`.")
            },
            ProblemExample {
                errors: Some(json!([{"field": "role", "message": "unknown field `role`, expected `name` or `email`"}])),
                ..example("unknown_field", 422, "validation_failed", "One or more fields are missing or invalid; see `errors`.")
            },
            ProblemExample {
                errors: Some(json!([{"field": "password", "message": "must be at least 8 characters"}])),
                ..example("policy", 422, "validation_failed", "One or more fields are missing or invalid; see `errors`.")
            },
        ],
        &[],
    );
    /// 400 `malformed_body`.
    MalformedBody => problem(
        "The body is empty or not JSON",
        vec![example("malformed_body", 400, "malformed_body", "The request body is not valid JSON: EOF while parsing an object.")],
        &[],
    );
    /// 415 `unsupported_media_type`.
    UnsupportedMediaType => problem(
        "The body was sent with another Content-Type than the endpoint takes",
        vec![example("unsupported_media_type", 415, "unsupported_media_type", "The request body must be sent as application/json.")],
        &[],
    );
    /// 413 `payload_too_large`.
    PayloadTooLarge => problem(
        "The body is larger than the configured limit (64 KiB by default)",
        vec![example("payload_too_large", 413, "payload_too_large", "The request body is larger than the limit of 65536 bytes.")],
        &[],
    );
    /// 401 `unauthorized` / `invalid_token` on a bearer-protected operation.
    BearerUnauthorized => problem(
        "No bearer token was sent (`unauthorized`), or it is invalid, expired or revoked (`invalid_token`)",
        vec![
            example("unauthorized", 401, "unauthorized", "This endpoint needs a bearer token in the Authorization header."),
            example("invalid_token", 401, "invalid_token", "The token is invalid, expired or revoked."),
        ],
        &[CHALLENGE],
    );
    /// 401 `invalid_credentials` at login.
    InvalidCredentials => problem(
        "Unknown email, wrong password or deactivated account (indistinguishable on purpose)",
        vec![example("invalid_credentials", 401, "invalid_credentials", "The credentials are not valid.")],
        &[("WWW-Authenticate", "`Bearer realm=\"storefront\"`")],
    );
    /// 401 on a password change: no or bad token, or a wrong current password.
    PasswordChangeUnauthorized => problem(
        "No bearer token (`unauthorized`), a bad one (`invalid_token`), or a wrong current password (`invalid_credentials`)",
        vec![
            example("unauthorized", 401, "unauthorized", "This endpoint needs a bearer token in the Authorization header."),
            example("invalid_token", 401, "invalid_token", "The token is invalid, expired or revoked."),
            example("invalid_credentials", 401, "invalid_credentials", "The credentials are not valid."),
        ],
        &[CHALLENGE],
    );
    /// 401 `invalid_token` for a refresh token.
    InvalidRefreshToken => problem(
        "The refresh token is unknown, expired, revoked or already spent",
        vec![example("invalid_token", 401, "invalid_token", "The token is invalid, expired or revoked.")],
        &[CHALLENGE],
    );
    /// 404 `not_found`.
    NotFound => problem(
        "No such resource (or it belongs to someone else, or the id is not a UUID)",
        vec![example("not_found", 404, "not_found", "The requested resource does not exist.")],
        &[],
    );
    /// 403 `forbidden`: authenticated, without the permission the operation needs.
    Forbidden => problem(
        "The caller is authenticated but lacks the permission the operation needs (see `x-required-permission`)",
        vec![example("forbidden", 403, "forbidden", "You do not have the permission this action needs.")],
        &[],
    );
    /// 409 `conflict`.
    Conflict => problem(
        "The change conflicts with the resource's current state",
        vec![
            example("exists", 409, "conflict", "the role `editor` already exists"),
            example("builtin", 409, "conflict", "`moderator` is a built-in role and cannot be deleted"),
            example("held", 409, "conflict", "the role `editor` is still held by users"),
            example("admin_grants", 409, "conflict", "`admin` always holds every permission; its grants cannot change"),
            example("last_admin", 409, "conflict", "this is the last active admin: it can be neither demoted, deactivated nor deleted"),
        ],
        &[],
    );
    /// 409 `invalid_transition`: an order's status does not allow the move.
    InvalidTransition => problem(
        "The order's current status does not allow this move (`invalid_transition`); nothing changed",
        vec![example("invalid_transition", 409, "invalid_transition", "An order cannot move from delivered to cancelled.")],
        &[],
    );
    /// 409 of an order placement: short stock, or the idempotency key's first request still running.
    PlacementConflict => problem(
        "A line exceeds the stock (`insufficient_stock`: one entry in `errors` per short line, nothing was ordered), \
         or the Idempotency-Key's first request is still running (`conflict`)",
        vec![
            ProblemExample {
                errors: Some(json!([{
                    "field": "items[0].quantity", "message": "only 1 in stock, 2 requested",
                    "product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80", "requested": 2, "available": 1
                }])),
                ..example("insufficient_stock", 409, "insufficient_stock", "Some lines exceed the stock; see `errors`. Nothing was ordered.")
            },
            example("in_flight", 409, "conflict", "a request with this Idempotency-Key is still being processed"),
        ],
        &[],
    );
    /// 422 of an order placement: an invalid body or key, or a key used with another body.
    PlacementRejected => problem(
        "A field is missing, unknown or invalid (`validation_failed`: 1..=50 lines, quantity 1..=1000, each product \
         once and existing, a well-formed `Idempotency-Key`), or the Idempotency-Key was used with another body \
         (`idempotency_key_reused`)",
        vec![
            ProblemExample {
                errors: Some(json!([{"field": "items[0].product_id", "message": "no such product"}])),
                ..example("unknown_product", 422, "validation_failed", "One or more fields are missing or invalid; see `errors`.")
            },
            example("idempotency_key_reused", 422, "idempotency_key_reused", "This Idempotency-Key was already used with another request body."),
        ],
        &[],
    );
    /// 409 `email_taken`.
    EmailTaken => problem(
        "Another account has this email (compared case-insensitively, after trimming)",
        vec![example("email_taken", 409, "email_taken", "An account with this email already exists.")],
        &[],
    );
    /// 503 `service_unavailable`.
    ServiceUnavailable => problem(
        "The database cannot be reached right now; retry after `Retry-After` seconds",
        vec![example("service_unavailable", 503, "service_unavailable", "The service is temporarily unavailable; retry shortly.")],
        &[RETRY_AFTER],
    );
    /// 429 `rate_limited` on the rate-limited operations.
    RateLimited => problem(
        "Too many requests from this client IP, or too many failed logins of this account; retry after \
         `Retry-After` seconds (the current window's end)",
        vec![example("rate_limited", 429, "rate_limited", "Too many requests; retry in 42 seconds.")],
        &[RETRY_AFTER],
    );
    /// 500 `internal`.
    InternalError => problem(
        "An unexpected error; its cause is logged with the request id, never returned",
        vec![example("internal", 500, "internal", "An unexpected error occurred.")],
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
