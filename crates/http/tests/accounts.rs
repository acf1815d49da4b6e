//! Registration and the caller's own account: `/users`, `/users/me`, `/users/me/password`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, init_service};
use common::*;
use serde_json::json;
use storefront_http::build_app;

fn is_rfc3339_utc(value: &serde_json::Value) -> bool {
    value.as_str().is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[actix_web::test]
async fn registering_answers_201_with_location_and_the_user_object() {
    let app = init_service(build_app(state())).await;
    let body = json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "name": " Ada Lovelace "});
    let reply = send(&app, post_json("/api/v1/users", body)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let user = reply.json();
    let id = user["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(reply.header("location"), Some(format!("/api/v1/users/{id}").as_str()));
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert!(is_rfc3339_utc(&user["created_at"]) && is_rfc3339_utc(&user["updated_at"]));
    let mut keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created_at", "email", "email_verified", "id", "is_active", "mfa_enabled", "name", "role", "updated_at"]
    );
    assert_eq!((user["email_verified"].as_bool(), user["mfa_enabled"].as_bool()), (Some(false), Some(false)));
}

#[actix_web::test]
async fn registering_a_taken_email_in_another_case_answers_409_email_taken() {
    let app = init_service(build_app(state())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let body = json!({"email": " ADA@example.com", "password": PASSWORD, "name": "Other"});
    send(&app, post_json("/api/v1/users", body)).await.problem(409, "email_taken");
}

#[actix_web::test]
async fn registering_against_the_policy_answers_422_naming_the_fields() {
    let app = init_service(build_app(state())).await;
    let cases = [
        (json!({"email": "ada@example.com", "password": "short", "name": "Ada"}), vec!["password"]),
        (json!({"email": "ada@example.com", "password": "password123", "name": "Ada"}), vec!["password"]),
        (json!({"email": "ada@example.com", "password": "ADA@example.com", "name": "Ada"}), vec!["password"]),
        (json!({"email": "ada@example.com", "password": "x".repeat(129), "name": "Ada"}), vec!["password"]),
        (json!({"email": "not-an-email", "password": PASSWORD, "name": "Ada"}), vec!["email"]),
        (json!({"email": "ada@example.com", "password": PASSWORD, "name": "   "}), vec!["name"]),
        (json!({"email": "nope", "password": PASSWORD, "name": ""}), vec!["email", "name"]),
    ];
    for (body, fields) in cases {
        let reply = send(&app, post_json("/api/v1/users", body.clone())).await;
        assert_eq!(reply.fields(), fields, "{body}");
    }
}

#[actix_web::test]
async fn a_100_byte_password_does_not_log_in_with_its_first_72_bytes() {
    let app = init_service(build_app(state())).await;
    let long: String = "q7-Zebra!".chars().cycle().take(100).collect();
    register(&app, "ada@example.com", &long).await;
    login(&app, "ada@example.com", &long).await;
    let reply =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": &long[..72]}))).await;
    reply.problem(401, "invalid_credentials");
}

#[actix_web::test]
async fn a_64_character_cjk_and_emoji_password_works() {
    let app = init_service(build_app(state())).await;
    let password: String = "密码安全🔐".chars().cycle().take(64).collect();
    assert_eq!(password.chars().count(), 64);
    register(&app, "ada@example.com", &password).await;
    let tokens = login(&app, "ada@example.com", &password).await;
    assert_eq!(get_me(&app, &tokens.access).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn me_answers_the_callers_account_without_secrets() {
    let app = init_service(build_app(state())).await;
    let created = register(&app, "ada@example.com", PASSWORD).await;
    let tokens = login(&app, "ada@example.com", PASSWORD).await;
    let reply = get_me(&app, &tokens.access).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), created);
    let text = String::from_utf8_lossy(&reply.body).to_lowercase();
    assert!(!text.contains("password") && !text.contains("hash"));
}

#[actix_web::test]
async fn me_without_a_token_answers_401_unauthorized() {
    let app = init_service(build_app(state())).await;
    for method in ["GET", "PATCH", "PUT", "DELETE"] {
        let req = TestRequest::default()
            .method(method.parse().unwrap())
            .uri("/api/v1/users/me")
            .set_json(json!({"name": "x", "email": "x@example.com"}));
        let reply = send(&app, req).await;
        reply.problem(401, "unauthorized");
        assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="storefront""#), "{method}");
    }
}

#[actix_web::test]
async fn patching_me_changes_only_the_fields_sent() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let req = TestRequest::patch()
        .uri("/api/v1/users/me")
        .insert_header(bearer(&tokens.access))
        .set_json(json!({"name": "Ada King"}));
    let reply = send(&app, req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["name"], "Ada King");
    assert_eq!(reply.json()["email"], "ada@example.com");
    // The same address (in any case) is a no-op.
    let req = TestRequest::patch()
        .uri("/api/v1/users/me")
        .insert_header(bearer(&tokens.access))
        .set_json(json!({"email": " Ada@Example.com"}));
    let reply = send(&app, req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["email"], "ada@example.com");
    assert_eq!(reply.json()["name"], "Ada King");
    let req = TestRequest::patch().uri("/api/v1/users/me").insert_header(bearer(&tokens.access)).set_json(json!({}));
    assert_eq!(send(&app, req).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn patching_me_with_a_role_answers_422_and_changes_nothing() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    for (body, field) in [
        (json!({"role": "admin"}), "role"),
        (json!({"name": "Ada", "role": "admin"}), "role"),
        (json!({"is_active": false}), "is_active"),
        (json!({"name": null}), "name"),
        (json!({"email": null}), "email"),
        (json!({"name": 7}), "name"),
    ] {
        let req =
            TestRequest::patch().uri("/api/v1/users/me").insert_header(bearer(&tokens.access)).set_json(body.clone());
        assert_eq!(send(&app, req).await.fields(), [field], "{body}");
    }
    let me = get_me(&app, &tokens.access).await.json();
    assert_eq!(me["role"], "user");
    assert_eq!(me["name"], "Ada");
}

#[actix_web::test]
async fn patching_or_putting_me_with_another_email_answers_422_pointing_to_the_confirmed_flow() {
    let app = init_service(build_app(state())).await;
    register(&app, "grace@example.com", PASSWORD).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    for (req, body) in [
        (TestRequest::patch(), json!({"email": "GRACE@example.com"})),
        (TestRequest::patch(), json!({"email": "new@example.com"})),
        (TestRequest::put(), json!({"name": "Ada", "email": "new@example.com"})),
    ] {
        let req = req.uri("/api/v1/users/me").insert_header(bearer(&tokens.access)).set_json(body.clone());
        let reply = send(&app, req).await;
        let problem = reply.problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "email", "{body}");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains("POST /api/v1/users/me/email"));
    }
    assert_eq!(get_me(&app, &tokens.access).await.json()["email"], "ada@example.com");
}

#[actix_web::test]
async fn patching_me_with_an_invalid_value_answers_422() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let req = TestRequest::patch()
        .uri("/api/v1/users/me")
        .insert_header(bearer(&tokens.access))
        .set_json(json!({"email": "nope", "name": ""}));
    assert_eq!(send(&app, req).await.fields(), ["name", "email"]);
}

#[actix_web::test]
async fn putting_me_needs_both_fields() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let req = TestRequest::put()
        .uri("/api/v1/users/me")
        .insert_header(bearer(&tokens.access))
        .set_json(json!({"name": "Ada"}));
    assert_eq!(send(&app, req).await.fields(), ["email"]);
    let req = TestRequest::put()
        .uri("/api/v1/users/me")
        .insert_header(bearer(&tokens.access))
        .set_json(json!({"name": "Ada King", "email": "ada@example.com"}));
    let reply = send(&app, req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["name"], "Ada King");
    assert_eq!(reply.json()["email"], "ada@example.com");
}

#[actix_web::test]
async fn deleting_me_answers_204_and_the_token_stops_working() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let reply = send(&app, TestRequest::delete().uri("/api/v1/users/me").insert_header(bearer(&tokens.access))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
    let reply = get_me(&app, &tokens.access).await;
    reply.problem(401, "invalid_token");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="storefront", error="invalid_token""#));
    refresh(&app, &tokens.refresh).await.problem(401, "invalid_token");
    let reply =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}))).await;
    reply.problem(401, "invalid_credentials");
    // The email is free again.
    register(&app, "ada@example.com", PASSWORD).await;
}

fn change_password(access: &str, current: &str, new: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/users/me/password")
        .insert_header(bearer(access))
        .set_json(json!({"current_password": current, "new_password": new}))
}

const NEW_PASSWORD: &str = "amber falcon 77 meadow";

#[actix_web::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = init_service(build_app(state())).await;
    let here = signed_up(&app, "ada@example.com").await;
    let elsewhere = login(&app, "ada@example.com", PASSWORD).await;
    let reply = send(&app, change_password(&here.access, PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(get_me(&app, &here.access).await.status, StatusCode::OK);
    assert_eq!(refresh(&app, &here.refresh).await.status, StatusCode::OK);
    get_me(&app, &elsewhere.access).await.problem(401, "invalid_token");
    refresh(&app, &elsewhere.refresh).await.problem(401, "invalid_token");
    let old =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}))).await;
    old.problem(401, "invalid_credentials");
    login(&app, "ada@example.com", NEW_PASSWORD).await;
}

#[actix_web::test]
async fn a_wrong_current_password_answers_401_invalid_credentials() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let reply = send(&app, change_password(&tokens.access, "not my password", NEW_PASSWORD)).await;
    reply.problem(401, "invalid_credentials");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="storefront""#));
    login(&app, "ada@example.com", PASSWORD).await;
}

#[actix_web::test]
async fn a_new_password_against_the_policy_answers_422() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    for new in ["short", "password1", "ada@example.com"] {
        assert_eq!(
            send(&app, change_password(&tokens.access, PASSWORD, new)).await.fields(),
            ["new_password"],
            "{new}"
        );
    }
    let req = TestRequest::post()
        .uri("/api/v1/users/me/password")
        .insert_header(bearer(&tokens.access))
        .set_json(json!({"new_password": NEW_PASSWORD}));
    assert_eq!(send(&app, req).await.fields(), ["current_password"]);
}

#[actix_web::test]
async fn changing_the_password_without_a_token_answers_401() {
    let app = init_service(build_app(state())).await;
    let req = TestRequest::post()
        .uri("/api/v1/users/me/password")
        .set_json(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}));
    send(&app, req).await.problem(401, "unauthorized");
}
