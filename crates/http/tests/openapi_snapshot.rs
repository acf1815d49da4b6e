//! The OpenAPI document is committed as `docs/openapi.json`, so that every change to the API
//! shows up in review as a change to that file. This test fails when the document the server
//! serves differs from the committed one; `just openapi-snapshot` (or
//! `cargo run --quiet -- openapi > docs/openapi.json`) writes it anew.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

/// The JSON path of the first place where `a` and `b` differ, if any.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let here = format!("{path}/{key}");
                match (x.get(key), y.get(key)) {
                    (Some(a), Some(b)) => first_difference(a, b, &here),
                    _ => Some(here),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (a, b))| first_difference(a, b, &format!("{path}/{i}")))
        }
        _ if a == b => None,
        _ => Some(path.to_owned()),
    }
}

#[test]
fn the_committed_openapi_document_is_the_one_the_server_serves() {
    let committed = std::fs::read_to_string(COMMITTED).expect("docs/openapi.json exists");
    let committed: Value = serde_json::from_str(&committed).expect("docs/openapi.json is JSON");
    let served = serde_json::to_value(storefront_http::openapi()).unwrap();
    if let Some(at) = first_difference(&committed, &served, "") {
        panic!(
            "docs/openapi.json differs from the served document (first at `{at}`): the API changed. \
             Regenerate it with `just openapi-snapshot` and review the change."
        );
    }
}

#[test]
fn a_difference_is_found_and_named() {
    let a = serde_json::json!({"paths": {"/x": {"get": {"responses": [1, 2]}}}});
    let b = serde_json::json!({"paths": {"/x": {"get": {"responses": [1, 3]}}}});
    assert_eq!(first_difference(&a, &b, ""), Some("/paths//x/get/responses/1".to_owned()));
    assert_eq!(first_difference(&a, &a, ""), None);
    let c = serde_json::json!({"paths": {}});
    assert_eq!(first_difference(&a, &c, ""), Some("/paths//x".to_owned()));
}
