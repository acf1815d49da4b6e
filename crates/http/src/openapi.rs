//! The OpenAPI 3.1 document: its description, tags, shared components and security
//! schemes; the operations come from the table in `operations`.

use crate::error::{FieldError, OAuthError, OAuthErrorCode, Problem};
use crate::operations;
use crate::orders;
use crate::responses::*;
use std::sync::LazyLock;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

const DESCRIPTION: &str = r#"Storefront's HTTP API.

**Conventions.** JSON in and out (UTF-8). A JSON endpoint given another `Content-Type`
answers 415, a body that is not JSON 400 (`malformed_body`), a body over the limit
(64 KiB by default) 413. Unknown fields, missing fields, wrong types and explicit `null`s
for optional fields answer 422 (`validation_failed`) with `errors` naming each field by its
path (a body that is JSON but not an object is named `body`). Errors are RFC 9457
problem details (`application/problem+json`) with a stable `code` and the `request_id`; the OAuth2 token endpoint's grant errors are the only exception
(RFC 6749 §5.2).

**Every response** carries `X-Request-Id` (the client's own value when it is 1..=128
characters of `[A-Za-z0-9._-]`, else a new one) and `X-Content-Type-Options: nosniff`;
every `/api/v1` response also carries `Cache-Control: no-store`. A method a path does not
offer answers 405 `method_not_allowed` with an `Allow` header (`HEAD` is offered wherever
`GET` is); an unknown path answers 404 `not_found` (its `detail` points to `/docs` and
`/openapi.json`), and so does a path id that is not a UUID. `GET /` redirects to `/docs`. When the database cannot be reached, requests that need it answer 503
`service_unavailable` with `Retry-After`.

**Authentication.** Send the access token as `Authorization: Bearer <token>` (never in the
query string). Without it a protected operation answers 401 `unauthorized`; with an
invalid, expired or revoked token (or one whose session has ended) 401 `invalid_token`; both
with a `WWW-Authenticate: Bearer` challenge (RFC 6750). In Swagger UI, use **Authorize**
with the password flow (your email as username; leave the client fields empty). Swagger UI's
Authorize cannot do the second step of an account with a second factor (TOTP): log such an
account in with `POST /api/v1/auth/login` and `POST /api/v1/auth/mfa`, then paste the access
token into the `bearer` scheme."#;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Storefront API",
        description = DESCRIPTION,
        contact(name = "The Storefront maintainers")
    ),
    servers((url = "/", description = "The server that serves this document")),
    components(
        schemas(Problem, FieldError, OAuthError, OAuthErrorCode, orders::OrderScope, orders::OrderStatusName),
        responses(
            ValidationFailed,
            MalformedBody,
            UnsupportedMediaType,
            PayloadTooLarge,
            BearerUnauthorized,
            PasswordChangeUnauthorized,
            InvalidRefreshToken,
            NotFound,
            EmailTaken,
            Forbidden,
            Conflict,
            InvalidTransition,
            PlacementConflict,
            PlacementRejected,
            ServiceUnavailable,
            InternalError,
            OAuthTokenError,
            RateLimited,
            ChatRejected,
            UtilityRejected,
            ChatLimited,
            AssistantUnavailable,
            LinkRejected,
            ResetRejected,
            UnverifiedEmail,
            LoginUnauthorized,
            MfaUnauthorized,
            SecondFactorUnauthorized,
            EnrolmentRejected,
            OAuthMfaRequired,
        )
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Registration and the caller's own account"),
        (name = "auth", description = "Tokens, logins and sessions; email verification, password reset and the login's second factor"),
        (name = "health", description = "Liveness and readiness"),
        (name = "docs", description = "This documentation: `/docs` (Swagger UI) and `/openapi.json`"),
        (name = "users", description = "User administration"),
        (name = "roles", description = "Permissions, roles, their grants and the audit log"),
        (name = "products", description = "The product catalogue, likes and the caller's liked products"),
        (name = "categories", description = "Product categories"),
        (name = "reviews", description = "Product reviews: one per user and product"),
        (name = "orders", description = "Orders: stock taken atomically, idempotent placement, the life cycle"),
        (name = "admin", description = "The business statistics and the dead letters of event processing"),
        (name = "assistant", description = "The shopping assistant: chat (JSON or Server-Sent Events), conversations, usage, and the text utilities (summarize, moderate, classify, generate; cached, `X-Cache`)"),
    )
)]
struct ApiDoc;

/// The OpenAPI document of the API (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    operations::document(&mut document);
    // After the operations: they bring the page schemas.
    PageItemsByReference.modify(&mut document);
    RequestIdOnEveryResponse.modify(&mut document);
    document
}

static JSON: LazyLock<String> = LazyLock::new(|| serde_json::to_string(&openapi()).unwrap_or_default());

/// The document as served at `/openapi.json`, serialized once.
pub(crate) fn json() -> &'static str {
    &JSON
}

/// The `oauth2` (password flow, for Swagger UI's Authorize button) and `bearer` schemes.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                // Refreshing is the same endpoint's `refresh_token` grant.
                [Flow::Password(Password::with_refresh_url("/api/v1/auth/token", Scopes::new(), "/api/v1/auth/token"))],
                "OAuth2 password grant at `/api/v1/auth/token`, for first-party clients and Swagger UI only \
                 (RFC 9700 discourages it for third parties). Public client: leave client id and secret empty. \
                 The access token it returns is a bearer token.",
            )),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `/api/v1/auth/token`, `/api/v1/auth/login` or `/api/v1/auth/refresh`, \
                         sent as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// utoipa inlines a generic's argument, so every `Paginated_<Item>` would carry its own
/// copy of `<Item>` and generated clients would get a second, incompatible model type per
/// list. A page's `items` refer to the item's component instead.
struct PageItemsByReference;

impl PageItemsByReference {
    const PREFIX: &'static str = "Paginated_";
}

impl Modify for PageItemsByReference {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else { return };
        let known: std::collections::BTreeSet<String> = components.schemas.keys().cloned().collect();
        for (name, schema) in components.schemas.iter_mut() {
            let Some(item) = name.strip_prefix(Self::PREFIX).filter(|item| known.contains(*item)) else { continue };
            let RefOr::T(Schema::Object(page)) = schema else { continue };
            let Some(RefOr::T(Schema::Array(items))) = page.properties.get_mut("items") else { continue };
            items.items = ArrayItems::RefOrSchema(Box::new(RefOr::Ref(Ref::from_schema_name(item))));
        }
    }
}

/// Every response carries `X-Request-Id` (the middleware adds it), so every response in
/// the document declares it: one header component, referred to by each response.
struct RequestIdOnEveryResponse;

impl RequestIdOnEveryResponse {
    const HEADER: &'static str = "X-Request-Id";

    fn declare(response: &mut RefOr<Response>) {
        // A reference points at a component response, which gets the header itself.
        if let RefOr::T(response) = response {
            let header = RefOr::Ref(Ref::new(format!("#/components/headers/{}", Self::HEADER)));
            response.headers.insert(Self::HEADER.to_owned(), header);
        }
    }
}

impl Modify for RequestIdOnEveryResponse {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let header = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[A-Za-z0-9._-]{1,128}$"))))
            .description(Some(
                "The request's id: the client's own `X-Request-Id` when it is 1..=128 characters of \
                 `[A-Za-z0-9._-]`, else a new one. Problem bodies carry it as `request_id`; logs carry it too.",
            ))
            .build();
        components.headers.insert(Self::HEADER.to_owned(), RefOr::T(header));
        components.responses.values_mut().for_each(Self::declare);
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                operation.responses.responses.values_mut().for_each(Self::declare);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn every_problem_code_is_documented() {
        #[allow(clippy::unwrap_used)]
        let document = serde_json::to_string(&openapi()).unwrap();
        for code in Code::ALL {
            // In a response's example, or (405, answered on every path) in the description.
            let in_example = document.contains(&format!(r#""code":"{}""#, code.as_str()));
            let in_prose = document.contains(&format!("`{}`", code.as_str()));
            assert!(in_example || in_prose, "the document never mentions `{}`", code.as_str());
        }
    }

    #[test]
    fn every_response_declares_the_request_id_header() {
        #[allow(clippy::unwrap_used)]
        let document = serde_json::to_value(openapi()).unwrap();
        let mut responses: Vec<(String, &serde_json::Value)> = Vec::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                    responses.push((format!("{method} {path} {status}"), response));
                }
            }
        }
        for (name, response) in document["components"]["responses"].as_object().into_iter().flatten() {
            responses.push((name.clone(), response));
        }
        assert!(responses.len() > 100, "{}", responses.len());
        for (name, response) in responses {
            let declared = response.get("$ref").is_some()
                || response["headers"]["X-Request-Id"]["$ref"] == "#/components/headers/X-Request-Id";
            assert!(declared, "{name} does not declare X-Request-Id");
        }
    }

    #[test]
    fn every_page_refers_to_its_item_schema_instead_of_copying_it() {
        #[allow(clippy::unwrap_used)]
        let document = serde_json::to_value(openapi()).unwrap();
        let schemas = document["components"]["schemas"].as_object().cloned().unwrap_or_default();
        let pages: Vec<_> = schemas.keys().filter(|name| name.starts_with(PageItemsByReference::PREFIX)).collect();
        assert!(pages.len() >= 6, "{pages:?}");
        for page in pages {
            let item = &page[PageItemsByReference::PREFIX.len()..];
            assert_eq!(
                schemas[page]["properties"]["items"]["items"]["$ref"],
                format!("#/components/schemas/{item}"),
                "{page}"
            );
        }
    }
}
