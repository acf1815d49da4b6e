//! CORS from configuration: none by default, explicit origins answered with their own
//! origin (never `*` with credentials), other origins served without CORS headers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test::{TestRequest, init_service};
use common::*;
use storefront_http::{CorsConfig, build_app};

fn with_cors(origins: &[&str], allow_credentials: bool) -> storefront_http::AppState {
    let mut state = state();
    state.config.cors = CorsConfig {
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        allow_credentials,
        max_age_secs: 600,
    };
    state
}

fn preflight(origin: &str) -> TestRequest {
    TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/api/v1/users/me")
        .insert_header(("origin", origin))
        .insert_header(("access-control-request-method", "GET"))
        .insert_header(("access-control-request-headers", "authorization"))
}

#[actix_web::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, TestRequest::get().uri("/health").insert_header(("origin", "https://evil.example"))).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn an_allowed_origins_preflight_and_request_are_answered_for_that_origin() {
    let app = init_service(build_app(with_cors(&["https://shop.example"], true))).await;
    let reply = send(&app, preflight("https://shop.example")).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://shop.example"));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
    assert!(reply.header("access-control-allow-headers").unwrap().to_lowercase().contains("authorization"));
    assert!(reply.header("x-request-id").is_some(), "preflights carry a request id too");

    let reply = send(&app, TestRequest::get().uri("/health").insert_header(("origin", "https://shop.example"))).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://shop.example"));
    assert!(reply.header("access-control-expose-headers").unwrap().to_lowercase().contains("x-request-id"));
}

#[actix_web::test]
async fn another_origin_gets_no_cors_headers() {
    let app = init_service(build_app(with_cors(&["https://shop.example"], true))).await;
    let reply = send(&app, TestRequest::get().uri("/health").insert_header(("origin", "https://evil.example"))).await;
    assert_eq!(reply.status, 200, "served, but the browser will withhold it");
    // Without Access-Control-Allow-Origin the browser withholds the answer (actix-cors may
    // still say Allow-Credentials, which means nothing without an allowed origin).
    assert!(reply.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn a_wildcard_allows_any_origin_without_credentials() {
    let app = init_service(build_app(with_cors(&["*"], false))).await;
    let reply = send(&app, TestRequest::get().uri("/health").insert_header(("origin", "https://any.example"))).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(reply.header("access-control-allow-credentials").is_none());
}

#[actix_web::test]
async fn explicit_origins_without_the_credentials_flag_send_none() {
    let app = init_service(build_app(with_cors(&["https://shop.example"], false))).await;
    let reply = send(&app, preflight("https://shop.example")).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://shop.example"));
    assert!(reply.header("access-control-allow-credentials").is_none());
}
