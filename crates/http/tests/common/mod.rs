//! Test support: the real app wired to the in-memory store, and request helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::test::{self, TestRequest};
use actix_web::web::Bytes;
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;
use storefront_app::ports::{SystemClock, UuidV7Generator};
use storefront_app::{AuthSettings, Principal, Registration, ServicePorts, ServiceSettings, Services};
use storefront_auth::{BcryptHasher, JwtCodec, RandomRefreshTokens, RfcTotp};
use storefront_domain::{Permission, PlainPassword, RoleName, User};
use storefront_http::{AppState, HttpConfig};
use storefront_memory::MemoryStore;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const ISSUER: &str = "storefront";
pub const AUDIENCE: &str = "storefront-api";
pub const PASSWORD: &str = "violet lantern 42 harbor";

/// The app's state on a fresh memory store, with the given auth settings.
pub fn state_with(settings: AuthSettings) -> AppState {
    state_on(MemoryStore::new(), settings)
}

/// The app's state on `store` (keep a clone of it to reach the data behind the app).
pub fn state_on(store: MemoryStore, settings: AuthSettings) -> AppState {
    let model = Arc::new(storefront_llm::BuiltinModel::new());
    let settings = ServiceSettings { auth: settings, ..ServiceSettings::default() };
    state_for(store, model, settings, HttpConfig::default())
}

/// The app's state on `store` with this assistant provider and these settings.
pub fn state_for(
    store: MemoryStore,
    language_model: Arc<dyn storefront_app::ports::LanguageModel>,
    settings: ServiceSettings,
    config: HttpConfig,
) -> AppState {
    let services = services_for(&store, language_model, settings);
    AppState::new(services, vec![Arc::new(store)], config)
}

/// Every service on `store` with this assistant provider and these settings (for a test
/// that swaps one of them before building the state).
pub fn services_for(
    store: &MemoryStore,
    language_model: Arc<dyn storefront_app::ports::LanguageModel>,
    settings: ServiceSettings,
) -> Services {
    let ports = ServicePorts {
        hasher: Arc::new(BcryptHasher::new(b"test-pepper".to_vec(), 4).unwrap()),
        access_tokens: Arc::new(JwtCodec::new(SECRET, ISSUER, AUDIENCE)),
        refresh_tokens: Arc::new(RandomRefreshTokens),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Generator),
        language_model,
        totp: Arc::new(RfcTotp),
        analysis_cache: Arc::new(storefront_memory::MokaAnalysisCache::default()),
    };
    // No rate limits unless `settings` has them: the tests about them add their own.
    Services::new(store, ports, settings)
}

pub fn state() -> AppState {
    state_with(AuthSettings::default())
}

/// A response, read in full.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts a problem-details response with this status and code; returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {:?}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status);
        assert_eq!(body["type"], "about:blank");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(body["detail"].is_string());
        assert_eq!(body["request_id"].as_str(), self.header("x-request-id"));
        body
    }

    /// The field paths named by a validation problem.
    pub fn fields(&self) -> Vec<String> {
        let body = self.problem(422, "validation_failed");
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
    }
}

pub async fn send<S, B>(app: &S, req: TestRequest) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, req.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = test::read_body(response).await;
    Reply { status, headers, body }
}

pub fn bearer(token: &str) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {token}"))
}

pub fn post_json(uri: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(uri).set_json(body)
}

pub fn form(uri: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

pub async fn register<S, B>(app: &S, email: &str, password: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply =
        send(app, post_json("/api/v1/users", json!({"email": email, "password": password, "name": "Ada"}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.json()
}

/// An access token and a refresh token.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

pub async fn login<S, B>(app: &S, email: &str, password: &str) -> Tokens
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = send(app, post_json("/api/v1/auth/login", json!({"email": email, "password": password}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    tokens(&reply)
}

pub fn tokens(reply: &Reply) -> Tokens {
    let body = reply.json();
    Tokens {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Registers `email` with `PASSWORD` and logs in.
pub async fn signed_up<S, B>(app: &S, email: &str) -> Tokens
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    register(app, email, PASSWORD).await;
    login(app, email, PASSWORD).await
}

/// The claims of a JWT, decoded without verification.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub async fn get_me<S, B>(app: &S, access: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, TestRequest::get().uri("/api/v1/users/me").insert_header(bearer(access))).await
}

pub async fn refresh<S, B>(app: &S, refresh_token: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, post_json("/api/v1/auth/refresh", json!({"refresh_token": refresh_token}))).await
}

/// Creates an account holding `role` directly through the accounts service (as
/// `storefront create-admin` does), with `PASSWORD`. The role must exist.
pub async fn create_user_with_role(state: &AppState, email: &str, role: &str) -> User {
    let registration = Registration {
        email: email.to_owned(),
        password: PlainPassword::new(PASSWORD.to_owned()),
        name: "Ada".to_owned(),
    };
    state.accounts.create_with_role(registration, RoleName::parse(role).unwrap()).await.unwrap()
}

/// Creates an account holding `role` and logs it in.
pub async fn signed_in_with_role<S, B>(app: &S, state: &AppState, email: &str, role: &str) -> Tokens
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    create_user_with_role(state, email, role).await;
    login(app, email, PASSWORD).await
}

/// An admin (`admin@example.com`), logged in.
pub async fn signed_in_admin<S, B>(app: &S, state: &AppState) -> Tokens
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    signed_in_with_role(app, state, "admin@example.com", "admin").await
}

/// The principal behind an access token, to act through the services directly.
pub async fn principal(state: &AppState, access: &str) -> Principal {
    state.auth.authenticate(access).await.unwrap()
}

/// Creates the custom role `name` granted exactly `permissions`, acting as `actor`.
pub async fn create_role_with(state: &AppState, actor: &Principal, name: &str, permissions: &[Permission]) {
    state.access.create_role(actor, name, "").await.unwrap();
    for permission in permissions {
        state.access.set_grant(actor, name, permission.as_str(), true).await.unwrap();
    }
}

/// A request with a bearer token and, if given, a JSON body.
pub fn request(method: actix_web::http::Method, uri: &str, access: &str, body: Option<Value>) -> TestRequest {
    let req = TestRequest::default().method(method).uri(uri).insert_header(bearer(access));
    match body {
        Some(body) => req.set_json(body),
        None => req,
    }
}
