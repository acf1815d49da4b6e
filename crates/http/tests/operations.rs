//! The operations table (`storefront_http::operations`) is what is routed and what is
//! documented: every operation of the OpenAPI document answers from its own route (not the
//! app's 404 for unknown paths, not a 405), and every routed operation is documented once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::{TestRequest, init_service};
use common::*;
use serde_json::Value;
use storefront_http::operations::operations;
use storefront_http::{build_app, openapi};

/// What the app's default service says of a path no route has (`ApiError::NoSuchPath`).
const NO_SUCH_PATH: &str = "No endpoint has this path";

/// `/api/v1/users/{id}` with each template segment filled in (a UUID serves as any name).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') { "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

fn documented_operations() -> Vec<(String, String)> {
    let doc = serde_json::to_value(openapi()).unwrap();
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            all.push((method.clone(), path.clone()));
        }
    }
    all
}

#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let app = init_service(build_app(state())).await;
    let documented = documented_operations();
    assert!(documented.len() > 50, "only {} documented operations", documented.len());
    for (method, path) in documented {
        let name = format!("{} {path}", method.to_uppercase());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = send(&app, TestRequest::default().method(method).uri(&concrete(&path))).await;
        assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{name} is documented but its method is not routed");
        let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains(NO_SUCH_PATH), "{name} is documented but not routed: {body}");
    }
}

#[test]
fn every_routed_operation_is_documented_once() {
    let documented = documented_operations();
    let routed: Vec<(String, String)> = operations().iter().map(|op| (op.method.to_owned(), op.path.clone())).collect();
    for (i, op) in routed.iter().enumerate() {
        assert!(!routed[..i].contains(op), "{op:?} is declared twice");
        assert!(documented.contains(op), "{op:?} is routed but not documented");
    }
    assert_eq!(routed.len(), documented.len(), "the document has operations the table does not route");
}

#[actix_web::test]
async fn a_path_outside_the_table_is_the_apps_404() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, TestRequest::get().uri("/api/v1/nowhere")).await;
    let body = reply.problem(404, "not_found");
    assert!(body["detail"].as_str().unwrap().contains(NO_SUCH_PATH), "{body}");
}
