//! The conventions every endpoint shares: problem details, 404/405/413/415/400/422,
//! request ids and common headers, health, the OpenAPI document and Swagger UI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{TestRequest, init_service};
use async_trait::async_trait;
use common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storefront_app::ports::{
    NewRefreshToken, NewSession, NewUser, Principal, ProfileChanges, ReadinessProbe, RefreshTokenHash, RotateOutcome,
    SessionRepository, UserRepository,
};
use storefront_app::{AccountService, StoreError};
use storefront_domain::{Email, PasswordHash, Session, SessionId, User, UserCredentials, UserId};
use storefront_http::build_app;

#[actix_web::test]
async fn an_unknown_route_answers_a_not_found_problem() {
    let app = init_service(build_app(state())).await;
    send(&app, TestRequest::get().uri("/nope")).await.problem(404, "not_found");
    let reply = send(&app, TestRequest::get().uri("/api/v1/nope")).await;
    let problem = reply.problem(404, "not_found");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    // A mistyped path says where the real ones are listed.
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("/docs") && detail.contains("/openapi.json"), "{detail}");
    send(&app, TestRequest::get().uri("/api/v1/users/me/")).await.problem(404, "not_found");
}

#[actix_web::test]
async fn a_method_the_path_does_not_offer_answers_405_with_allow() {
    let app = init_service(build_app(state())).await;
    let cases = [
        (Method::DELETE, "/api/v1/users", "GET, HEAD, POST"),
        (Method::POST, "/api/v1/users/me", "GET, HEAD, PATCH, PUT, DELETE"),
        (Method::GET, "/api/v1/auth/token", "POST"),
        (Method::GET, "/api/v1/auth/login", "POST"),
        (Method::POST, "/api/v1/auth/sessions", "GET, HEAD"),
        (Method::GET, "/api/v1/auth/sessions/0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "DELETE"),
        (Method::POST, "/health", "GET, HEAD"),
        (Method::PUT, "/openapi.json", "GET, HEAD"),
        (Method::POST, "/docs/", "GET, HEAD"),
    ];
    for (method, uri, allow) in cases {
        let reply = send(&app, TestRequest::default().method(method.clone()).uri(uri)).await;
        reply.problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {uri}");
    }
}

#[actix_web::test]
async fn head_is_offered_wherever_get_is() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, TestRequest::default().method(Method::HEAD).uri("/health")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_json_endpoint_refuses_other_media_types_with_415() {
    let app = init_service(build_app(state())).await;
    let body = r#"{"email":"ada@example.com","password":"violet lantern 42 harbor","name":"Ada"}"#;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("nonsense"), None] {
        let mut req = TestRequest::post().uri("/api/v1/users").set_payload(body);
        if let Some(ct) = content_type {
            req = req.insert_header((header::CONTENT_TYPE, ct));
        }
        send(&app, req).await.problem(415, "unsupported_media_type");
    }
}

#[actix_web::test]
async fn json_media_types_with_parameters_or_a_json_suffix_are_accepted() {
    let app = init_service(build_app(state())).await;
    for (i, content_type) in ["application/json; charset=utf-8", "application/vnd.storefront+json"].iter().enumerate() {
        let body = json!({"email": format!("ada{i}@example.com"), "password": PASSWORD, "name": "Ada"});
        let req = TestRequest::post()
            .uri("/api/v1/users")
            .insert_header((header::CONTENT_TYPE, *content_type))
            .set_payload(body.to_string());
        assert_eq!(send(&app, req).await.status, StatusCode::CREATED, "{content_type}");
    }
}

#[actix_web::test]
async fn a_body_over_the_limit_answers_413() {
    let mut state = state();
    state.config.json_limit_bytes = 100;
    let app = init_service(build_app(state)).await;
    let big = json!({"email": "ada@example.com", "password": PASSWORD, "name": "x".repeat(200)});
    send(&app, post_json("/api/v1/users", big.clone())).await.problem(413, "payload_too_large");
    // A body longer than its declared length is capped while it is read.
    let lying = post_json("/api/v1/users", big).insert_header((header::CONTENT_LENGTH, "10"));
    send(&app, lying).await.problem(413, "payload_too_large");
    // The default limit is 64 KiB.
    let app = init_service(build_app(common::state())).await;
    let huge = json!({"email": "ada@example.com", "password": PASSWORD, "name": "x".repeat(70 * 1024)});
    send(&app, post_json("/api/v1/users", huge)).await.problem(413, "payload_too_large");
}

#[actix_web::test]
async fn a_body_that_is_not_json_answers_400_malformed_body() {
    let app = init_service(build_app(state())).await;
    for body in ["", "{", "not json", r#"{"email": "a@example.com",}"#, "{} {}"] {
        let req = TestRequest::post()
            .uri("/api/v1/users")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body);
        send(&app, req).await.problem(400, "malformed_body");
    }
}

#[actix_web::test]
async fn a_missing_field_answers_422_naming_it() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, post_json("/api/v1/users", json!({"password": PASSWORD, "name": "Ada"}))).await;
    assert_eq!(reply.fields(), ["email"]);
}

#[actix_web::test]
async fn a_value_of_the_wrong_type_answers_422_naming_it() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, post_json("/api/v1/users", json!({"email": 42, "password": PASSWORD, "name": "Ada"}))).await;
    assert_eq!(reply.fields(), ["email"]);
    let reply = send(&app, post_json("/api/v1/users", json!(["not", "an", "object"]))).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn an_unknown_field_answers_422_naming_it() {
    let app = init_service(build_app(state())).await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada", "role": "admin"});
    let reply = send(&app, post_json("/api/v1/users", body)).await;
    assert_eq!(reply.fields(), ["role"]);
}

#[actix_web::test]
async fn a_client_request_id_is_echoed_on_every_response() {
    let app = init_service(build_app(state())).await;
    let requests = [
        TestRequest::get().uri("/health"),
        TestRequest::get().uri("/nope"),
        TestRequest::delete().uri("/api/v1/users"),
        TestRequest::post().uri("/api/v1/users").insert_header((header::CONTENT_TYPE, "text/plain")),
        TestRequest::get().uri("/docs/"),
        TestRequest::get().uri("/openapi.json"),
        TestRequest::get().uri("/api/v1/users/me"),
        post_json("/api/v1/users", json!({"name": "x".repeat(70 * 1024)})),
    ];
    for req in requests {
        let reply = send(&app, req.insert_header(("x-request-id", "client-id_1.2"))).await;
        assert_eq!(reply.header("x-request-id"), Some("client-id_1.2"));
        if reply.header("content-type") == Some("application/problem+json") {
            assert_eq!(reply.json()["request_id"], "client-id_1.2");
        }
    }
}

#[actix_web::test]
async fn a_request_id_that_is_too_long_or_has_odd_characters_is_replaced() {
    let app = init_service(build_app(state())).await;
    for bad in ["has space".to_owned(), "semi;colon".to_owned(), "x".repeat(129), String::new()] {
        let reply = send(&app, TestRequest::get().uri("/nope").insert_header(("x-request-id", bad.clone()))).await;
        let id = reply.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert_eq!(reply.json()["request_id"], id);
    }
    let a = send(&app, TestRequest::get().uri("/health")).await;
    let b = send(&app, TestRequest::get().uri("/health")).await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

#[actix_web::test]
async fn every_response_says_nosniff_and_every_api_response_no_store() {
    let app = init_service(build_app(state())).await;
    // (The catalogue's conditional reads say how they may be cached: `catalog_reads.rs`.)
    for uri in ["/health", "/docs/", "/openapi.json", "/nope", "/api/v1/users/me", "/api/v1/nope", "/api/v1/roles"] {
        let reply = send(&app, TestRequest::get().uri(uri)).await;
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{uri}");
        if uri.starts_with("/api/v1") {
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{uri}");
        }
    }
}

#[actix_web::test]
async fn a_path_id_that_is_not_a_uuid_answers_404() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let req = TestRequest::delete().uri("/api/v1/auth/sessions/not-a-uuid").insert_header(bearer(&tokens.access));
    send(&app, req).await.problem(404, "not_found");
}

#[actix_web::test]
async fn health_answers_ok_with_the_version() {
    let mut state = state();
    state.config.version = "1.2.3".into();
    let app = init_service(build_app(state)).await;
    let reply = send(&app, TestRequest::get().uri("/health")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok", "version": "1.2.3"}));
}

#[actix_web::test]
async fn readiness_answers_ok_when_every_probe_does() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok", "checks": {"database": "ok"}}));
}

struct FailingProbe;

#[async_trait]
impl ReadinessProbe for FailingProbe {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        Err("connection refused".into())
    }
}

struct HangingProbe;

#[async_trait]
impl ReadinessProbe for HangingProbe {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    }
}

#[actix_web::test]
async fn readiness_answers_503_with_the_reason_when_a_probe_fails() {
    let mut state = state();
    state.readiness = vec![Arc::new(FailingProbe)];
    let app = init_service(build_app(state)).await;
    let reply = send(&app, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json(), json!({"status": "unavailable", "checks": {"database": "connection refused"}}));
}

#[actix_web::test]
async fn readiness_answers_within_about_a_second_when_a_probe_hangs() {
    let mut state = state();
    state.readiness = vec![Arc::new(HangingProbe)];
    let app = init_service(build_app(state)).await;
    let started = Instant::now();
    let reply = send(&app, TestRequest::get().uri("/health/ready")).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["status"], "unavailable");
}

/// A store that is down (or broken): every call fails with the given error.
struct BrokenStore(StoreError);

#[async_trait]
impl UserRepository for BrokenStore {
    async fn create(&self, _: NewUser) -> Result<User, StoreError> {
        Err(self.0.clone())
    }
    async fn find_by_id(&self, _: UserId) -> Result<Option<User>, StoreError> {
        Err(self.0.clone())
    }
    async fn find_credentials_by_email(&self, _: &Email) -> Result<Option<UserCredentials>, StoreError> {
        Err(self.0.clone())
    }
    async fn find_credentials_by_id(&self, _: UserId) -> Result<Option<UserCredentials>, StoreError> {
        Err(self.0.clone())
    }
    async fn update_profile(
        &self,
        _: UserId,
        _: ProfileChanges,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<User, StoreError> {
        Err(self.0.clone())
    }
    async fn change_password(
        &self,
        _: UserId,
        _: PasswordHash,
        _: SessionId,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn delete(&self, _: UserId) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn active_holders_of(&self, _: storefront_domain::Permission) -> Result<Vec<User>, StoreError> {
        Err(self.0.clone())
    }
    async fn load_principal(
        &self,
        _: UserId,
        _: SessionId,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl SessionRepository for BrokenStore {
    async fn start(&self, _: NewSession) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn rotate(
        &self,
        _: &RefreshTokenHash,
        _: NewRefreshToken,
        _: chrono::DateTime<chrono::Utc>,
        _: chrono::Duration,
    ) -> Result<RotateOutcome, StoreError> {
        Err(self.0.clone())
    }
    async fn end_by_refresh_token(
        &self,
        _: &RefreshTokenHash,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn end(&self, _: UserId, _: SessionId, _: chrono::DateTime<chrono::Utc>) -> Result<bool, StoreError> {
        Err(self.0.clone())
    }
    async fn end_all(&self, _: UserId, _: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    async fn list_active(&self, _: UserId, _: chrono::DateTime<chrono::Utc>) -> Result<Vec<Session>, StoreError> {
        Err(self.0.clone())
    }
    async fn end_oldest_beyond(
        &self,
        _: UserId,
        _: usize,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        Err(self.0.clone())
    }
    async fn purge_ended(&self, _: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        Err(self.0.clone())
    }
}

fn broken_state(error: StoreError) -> storefront_http::AppState {
    let healthy = state();
    let store = Arc::new(BrokenStore(error));
    let hasher = Arc::new(storefront_auth::BcryptHasher::new(b"pepper".to_vec(), 4).unwrap());
    let clock = Arc::new(storefront_app::ports::SystemClock);
    let ids = Arc::new(storefront_app::ports::UuidV7Generator);
    let accounts = AccountService::new(store.clone(), hasher.clone(), clock.clone(), ids.clone());
    let auth = storefront_app::AuthService::new(
        store.clone(),
        store,
        hasher,
        Arc::new(storefront_auth::JwtCodec::new(SECRET, ISSUER, AUDIENCE)),
        Arc::new(storefront_auth::RandomRefreshTokens),
        clock,
        ids,
        Default::default(),
    );
    let mut state = healthy;
    state.accounts = accounts;
    state.auth = auth;
    state
}

#[actix_web::test]
async fn an_unreachable_store_answers_503_with_retry_after() {
    let app = init_service(build_app(broken_state(StoreError::Unavailable("connection refused".into())))).await;
    let reply = send(
        &app,
        post_json("/api/v1/users", json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})),
    )
    .await;
    let body = reply.problem(503, "service_unavailable");
    assert!(reply.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok()));
    assert!(!body.to_string().contains("connection refused"));
    let reply =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}))).await;
    reply.problem(503, "service_unavailable");
    // Even behind the OAuth2 endpoint, an outage stays a problem document.
    let reply = send(&app, form("/api/v1/auth/token", "grant_type=refresh_token&refresh_token=abc")).await;
    reply.problem(503, "service_unavailable");
}

#[actix_web::test]
async fn an_internal_failure_answers_500_without_its_cause() {
    let app = init_service(build_app(broken_state(StoreError::Internal("relation users_secret missing".into())))).await;
    let reply = send(&app, post_json("/api/v1/auth/refresh", json!({"refresh_token": "abc"}))).await;
    let body = reply.problem(500, "internal");
    assert!(!body.to_string().contains("users_secret"));
}

#[actix_web::test]
async fn the_openapi_document_is_served_as_openapi_3_1() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, TestRequest::get().uri("/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::to_value(storefront_http::openapi()).unwrap());
}

#[actix_web::test]
async fn the_document_declares_the_oauth2_password_flow_and_bearer_schemes() {
    let doc = serde_json::to_value(storefront_http::openapi()).unwrap();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["oauth2"]["type"], "oauth2");
    assert_eq!(schemes["oauth2"]["flows"]["password"]["tokenUrl"], "/api/v1/auth/token");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
}

#[actix_web::test]
async fn every_operation_is_documented_with_its_errors() {
    let doc = serde_json::to_value(storefront_http::openapi()).unwrap();
    let expected = [
        ("/health", "get"),
        ("/health/ready", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "patch"),
        ("/api/v1/users/me", "put"),
        ("/api/v1/users/me", "delete"),
        ("/api/v1/users/me/password", "post"),
        ("/api/v1/auth/token", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/logout-all", "post"),
        ("/api/v1/auth/sessions", "get"),
        ("/api/v1/auth/sessions/{id}", "delete"),
    ];
    for (path, method) in expected {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if path.starts_with("/api/v1") {
                assert!(responses.contains_key("500") && responses.contains_key("503"), "{method} {path}");
            }
            // Public operations say `security: []`.
            let protected = op.get("security").is_some_and(|s| s.as_array().is_some_and(|s| !s.is_empty()));
            if protected {
                // An empty requirement first makes the token optional (`GET /products`).
                let schemes = if op["security"][0] == json!({}) {
                    json!([{}, {"oauth2": []}, {"bearer": []}])
                } else {
                    json!([{"oauth2": []}, {"bearer": []}])
                };
                assert_eq!(op["security"], schemes, "{method} {path}");
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            let takes_json = op["requestBody"]["content"].get("application/json").is_some();
            if takes_json {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
            }
        }
    }
    // Every response reference resolves.
    let text = doc.to_string();
    for (name, _) in doc["components"]["responses"].as_object().unwrap() {
        assert!(text.contains(&format!("#/components/responses/{name}")), "{name} is never used");
    }
    for reference in text.split("\"#/components/responses/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(doc["components"]["responses"].get(name).is_some(), "{name} is not declared");
    }
    // And so does every schema reference (a type used only in `params` is not collected by
    // itself).
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(doc["components"]["schemas"].get(name).is_some(), "schema {name} is not declared");
    }
}

#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let app = init_service(build_app(state())).await;
    let doc = serde_json::to_value(storefront_http::openapi()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let uri = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = send(&app, TestRequest::default().method(method.clone()).uri(&uri)).await;
            assert!(reply.status != StatusCode::METHOD_NOT_ALLOWED, "{method} {uri} answered 405");
            if reply.status == StatusCode::NOT_FOUND {
                // An anonymous read of an unknown id (`GET /products/{id}`) is a routed 404: the
                // resource then answers a method it does not offer with 405, listing this one.
                let probe = send(&app, TestRequest::default().method(Method::TRACE).uri(&uri)).await;
                let allow =
                    probe.header("allow").unwrap_or_default().split(", ").map(str::to_owned).collect::<Vec<_>>();
                assert!(allow.contains(&method.to_string()), "{method} {uri} answered 404 and is not routed");
            }
        }
    }
}

#[actix_web::test]
async fn the_root_sends_a_browser_to_the_docs_as_the_document_says() {
    let app = init_service(build_app(state())).await;
    for request in [TestRequest::get(), TestRequest::default().method(Method::HEAD)] {
        let reply = send(&app, request.uri("/")).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.header("location"), Some("/docs"));
    }
    let doc = send(&app, TestRequest::get().uri("/openapi.json")).await.json();
    let root = &doc["paths"]["/"]["get"];
    assert!(root["responses"]["303"]["headers"]["Location"].is_object(), "{root}");
}

#[actix_web::test]
async fn swagger_ui_is_served_at_docs_with_and_without_the_slash() {
    let app = init_service(build_app(state())).await;
    for uri in ["/docs", "/docs/", "/docs/index.html"] {
        let reply = send(&app, TestRequest::get().uri(uri)).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert!(reply.header("content-type").unwrap().starts_with("text/html"));
        let html = String::from_utf8_lossy(&reply.body);
        assert!(html.contains("swagger-ui"), "{uri}");
        assert!(!html.contains("cdn") && !html.contains("unpkg"), "{uri} loads from a CDN");
    }
    let html = String::from_utf8_lossy(&send(&app, TestRequest::get().uri("/docs")).await.body).to_string();
    assert!(html.contains(r#"<base href="/docs/">"#));
    let init = send(&app, TestRequest::get().uri("/docs/swagger-initializer.js")).await;
    assert_eq!(init.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&init.body).contains("/openapi.json"));
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/oauth2-redirect.html"] {
        assert_eq!(send(&app, TestRequest::get().uri(asset)).await.status, StatusCode::OK, "{asset}");
    }
    send(&app, TestRequest::get().uri("/docs/nope.js")).await.problem(404, "not_found");
}

#[actix_web::test]
async fn every_operation_says_who_may_call_it_and_the_document_names_its_server_and_contact() {
    let doc = serde_json::to_value(storefront_http::openapi()).unwrap();
    let mut unsaid = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            // A public operation says `security: []`; one without the key is ambiguous to
            // linters and client generators (Redocly's `security-defined`).
            if operation.get("security").is_none_or(|s| !s.is_array()) {
                unsaid.push(format!("{method} {path}"));
            }
        }
    }
    assert!(unsaid.is_empty(), "operations without a security key: {unsaid:?}");
    assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([]));
    assert_eq!(doc["servers"][0]["url"], "/");
    assert!(doc["info"]["contact"]["name"].is_string());
}
