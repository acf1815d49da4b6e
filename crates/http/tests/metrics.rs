//! `/metrics`: Prometheus text with request counts and latency by route and status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test::{TestRequest, init_service};
use common::*;
use storefront_http::build_app;

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = init_service(build_app(state())).await;
    send(&app, TestRequest::get().uri("/health")).await;
    let unknown = format!("/api/v1/products/{}", uuid::Uuid::now_v7());
    assert_eq!(send(&app, TestRequest::get().uri(&unknown)).await.status.as_u16(), 404);

    let reply = send(&app, TestRequest::get().uri("/metrics")).await;
    assert_eq!(reply.status.as_u16(), 200);
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    let has = |needle: &str| text.lines().any(|l| l.starts_with("http_requests_total") && l.contains(needle));
    assert!(has(r#"route="/health""#) && has(r#"status="200""#), "{text}");
    // Ids never become labels: the route is the matched pattern.
    assert!(has(r#"route="/api/v1/products/{id}""#) && has(r#"status="404""#), "{text}");
    assert!(!text.contains(&unknown[17..]), "{text}");
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
}
