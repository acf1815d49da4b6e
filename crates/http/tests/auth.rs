//! Authentication: the OAuth2 token endpoint, login, refresh-token rotation and theft
//! detection, logout, sessions, and hostile bearer tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{StatusCode, header};
use actix_web::test::{TestRequest, init_service};
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::Duration;
use storefront_app::AuthSettings;
use storefront_http::build_app;

const CHALLENGE: &str = r#"Bearer realm="storefront""#;
const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer realm="storefront", error="invalid_token""#;

#[track_caller]
fn assert_token_response(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("pragma"), Some("no-cache"));
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "refresh_token", "token_type"]);
}

#[track_caller]
fn assert_oauth_error(reply: &Reply, error: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

// --- JSON login -------------------------------------------------------------------------

#[actix_web::test]
async fn logging_in_answers_a_token_response_that_is_not_cached() {
    let app = init_service(build_app(state())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let reply =
        send(&app, post_json("/api/v1/auth/login", json!({"email": " ADA@example.com", "password": PASSWORD}))).await;
    assert_token_response(&reply);
    let access = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get_me(&app, &access).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_email_answer_the_same_401() {
    let app = init_service(build_app(state())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let wrong =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": "nope nope nope"})))
            .await;
    let unknown =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "who@example.com", "password": PASSWORD}))).await;
    let invalid =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "not an email", "password": PASSWORD}))).await;
    let mut details = Vec::new();
    for reply in [&wrong, &unknown, &invalid] {
        let body = reply.problem(401, "invalid_credentials");
        assert_eq!(reply.header("www-authenticate"), Some(CHALLENGE));
        details.push(body["detail"].clone());
    }
    assert!(details.windows(2).all(|w| w[0] == w[1]));
}

#[actix_web::test]
async fn a_login_body_without_a_password_answers_422() {
    let app = init_service(build_app(state())).await;
    assert_eq!(
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com"}))).await.fields(),
        ["password"]
    );
}

// --- OAuth2 token endpoint --------------------------------------------------------------

#[actix_web::test]
async fn the_password_grant_answers_a_token_response() {
    let app = init_service(build_app(state())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let reply = send(
        &app,
        form("/api/v1/auth/token", "grant_type=password&username=ada%40example.com&password=violet+lantern+42+harbor"),
    )
    .await;
    assert_token_response(&reply);
    assert_eq!(get_me(&app, &tokens(&reply).access).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn the_password_grant_accepts_what_swagger_ui_and_oauth2_libraries_send() {
    let app = init_service(build_app(state())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let body = "grant_type=password&username=ada%40example.com&password=violet%20lantern%2042%20harbor&scope=&client_id=swagger-ui";
    assert_token_response(&send(&app, form("/api/v1/auth/token", body)).await);
    let basic = base64::engine::general_purpose::STANDARD.encode("swagger-ui:");
    let req = form(
        "/api/v1/auth/token",
        "grant_type=password&username=ada%40example.com&password=violet%20lantern%2042%20harbor",
    )
    .insert_header((header::AUTHORIZATION, format!("Basic {basic}")));
    assert_token_response(&send(&app, req).await);
    let req = form(
        "/api/v1/auth/token",
        "grant_type=password&username=ada%40example.com&password=violet%20lantern%2042%20harbor&scope=",
    )
    .insert_header((header::AUTHORIZATION, "Basic Og=="))
    .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=UTF-8"));
    assert_token_response(&send(&app, req).await);
}

#[actix_web::test]
async fn the_refresh_grant_rotates_the_refresh_token() {
    let app = init_service(build_app(state())).await;
    let first = signed_up(&app, "ada@example.com").await;
    let reply =
        send(&app, form("/api/v1/auth/token", &format!("grant_type=refresh_token&refresh_token={}", first.refresh)))
            .await;
    assert_token_response(&reply);
    let second = tokens(&reply);
    assert_ne!(second.refresh, first.refresh);
    let again =
        send(&app, form("/api/v1/auth/token", &format!("grant_type=refresh_token&refresh_token={}", first.refresh)))
            .await;
    assert_oauth_error(&again, "invalid_grant");
}

#[actix_web::test]
async fn wrong_credentials_or_a_bad_refresh_token_are_an_invalid_grant() {
    let app = init_service(build_app(state())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    for body in [
        "grant_type=password&username=ada%40example.com&password=wrong-password",
        "grant_type=password&username=nobody%40example.com&password=wrong-password",
        "grant_type=refresh_token&refresh_token=not-a-real-token",
    ] {
        assert_oauth_error(&send(&app, form("/api/v1/auth/token", body)).await, "invalid_grant");
    }
}

#[actix_web::test]
async fn a_missing_or_repeated_parameter_is_an_invalid_request() {
    let app = init_service(build_app(state())).await;
    for body in [
        "",
        "username=ada%40example.com&password=x",
        "grant_type=password&password=x",
        "grant_type=password&username=ada%40example.com",
        "grant_type=refresh_token",
        "grant_type=password&grant_type=password&username=a&password=b",
        "grant_type=refresh_token&refresh_token=a&refresh_token=b",
    ] {
        assert_oauth_error(&send(&app, form("/api/v1/auth/token", body)).await, "invalid_request");
    }
}

#[actix_web::test]
async fn another_grant_type_is_unsupported() {
    let app = init_service(build_app(state())).await;
    for body in [
        "grant_type=client_credentials",
        "grant_type=authorization_code&code=abc",
        "grant_type=PASSWORD&username=a&password=b",
    ] {
        assert_oauth_error(&send(&app, form("/api/v1/auth/token", body)).await, "unsupported_grant_type");
    }
}

#[actix_web::test]
async fn the_token_endpoint_takes_only_forms_and_bounded_bodies() {
    let app = init_service(build_app(state())).await;
    let json = post_json("/api/v1/auth/token", json!({"grant_type": "password", "username": "a", "password": "b"}));
    send(&app, json).await.problem(415, "unsupported_media_type");
    let none = TestRequest::post().uri("/api/v1/auth/token").set_payload("grant_type=password");
    send(&app, none).await.problem(415, "unsupported_media_type");
    let big = format!("grant_type=password&username=a&password={}", "x".repeat(70 * 1024));
    send(&app, form("/api/v1/auth/token", &big)).await.problem(413, "payload_too_large");
    let reply = send(&app, TestRequest::get().uri("/api/v1/auth/token")).await;
    reply.problem(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[actix_web::test]
async fn a_login_remembers_the_user_agent_and_peer_address() {
    let app = init_service(build_app(state())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let req =
        form("/api/v1/auth/token", "grant_type=password&username=ada%40example.com&password=violet+lantern+42+harbor")
            .insert_header((header::USER_AGENT, "StorefrontTest/1.0"))
            .peer_addr("203.0.113.7:4242".parse().unwrap());
    let access = tokens(&send(&app, req).await).access;
    let sessions =
        send(&app, TestRequest::get().uri("/api/v1/auth/sessions").insert_header(bearer(&access))).await.json();
    assert_eq!(sessions[0]["user_agent"], "StorefrontTest/1.0");
    assert_eq!(sessions[0]["ip"], "203.0.113.7");
}

// --- Refresh ------------------------------------------------------------------------------

#[actix_web::test]
async fn refreshing_answers_a_new_pair_and_both_new_tokens_work() {
    let app = init_service(build_app(state())).await;
    let first = signed_up(&app, "ada@example.com").await;
    let reply = refresh(&app, &first.refresh).await;
    assert_token_response(&reply);
    let second = tokens(&reply);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(claims(&second.access)["sid"], claims(&first.access)["sid"]);
    assert_eq!(get_me(&app, &second.access).await.status, StatusCode::OK);
    assert_token_response(&refresh(&app, &second.refresh).await);
}

#[actix_web::test]
async fn a_bad_refresh_token_answers_401_invalid_token() {
    let app = init_service(build_app(state())).await;
    refresh(&app, "not-a-real-token").await.problem(401, "invalid_token");
    refresh(&app, "").await.problem(401, "invalid_token");
}

#[actix_web::test]
async fn reusing_a_refresh_token_within_the_grace_period_revokes_nothing() {
    let app = init_service(build_app(state())).await;
    let first = signed_up(&app, "ada@example.com").await;
    let second = tokens(&refresh(&app, &first.refresh).await);
    refresh(&app, &first.refresh).await.problem(401, "invalid_token");
    assert_eq!(get_me(&app, &second.access).await.status, StatusCode::OK);
    assert_token_response(&refresh(&app, &second.refresh).await);
}

#[actix_web::test]
async fn reusing_a_refresh_token_after_the_grace_period_revokes_the_whole_family() {
    let settings = AuthSettings { refresh_reuse_grace: chrono::Duration::zero(), ..AuthSettings::default() };
    let app = init_service(build_app(state_with(settings))).await;
    let first = signed_up(&app, "ada@example.com").await;
    let other_device = login(&app, "ada@example.com", PASSWORD).await;
    let second = tokens(&refresh(&app, &first.refresh).await);
    tokio::time::sleep(Duration::from_millis(10)).await;
    refresh(&app, &first.refresh).await.problem(401, "invalid_token");
    refresh(&app, &second.refresh).await.problem(401, "invalid_token");
    get_me(&app, &second.access).await.problem(401, "invalid_token");
    get_me(&app, &first.access).await.problem(401, "invalid_token");
    // Another login's family is not touched.
    assert_eq!(get_me(&app, &other_device.access).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn of_concurrent_refreshes_with_one_token_exactly_one_succeeds() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let replies = futures::future::join_all((0..8).map(|_| refresh(&app, &tokens.refresh))).await;
    let ok = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1);
    for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
        reply.problem(401, "invalid_token");
    }
}

// --- Logout and sessions ------------------------------------------------------------------

#[actix_web::test]
async fn logging_out_ends_the_session_at_once() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let other = login(&app, "ada@example.com", PASSWORD).await;
    let reply = send(&app, post_json("/api/v1/auth/logout", json!({"refresh_token": tokens.refresh}))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    get_me(&app, &tokens.access).await.problem(401, "invalid_token");
    refresh(&app, &tokens.refresh).await.problem(401, "invalid_token");
    assert_eq!(get_me(&app, &other.access).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn logging_out_with_an_unknown_or_spent_token_answers_204() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, post_json("/api/v1/auth/logout", json!({"refresh_token": "never-issued"}))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let first = signed_up(&app, "ada@example.com").await;
    let second = tokens(&refresh(&app, &first.refresh).await);
    // The spent token still names its session, which ends.
    let reply = send(&app, post_json("/api/v1/auth/logout", json!({"refresh_token": first.refresh}))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    get_me(&app, &second.access).await.problem(401, "invalid_token");
    let reply = send(&app, post_json("/api/v1/auth/logout", json!({}))).await;
    assert_eq!(reply.fields(), ["refresh_token"]);
}

#[actix_web::test]
async fn logging_out_everywhere_ends_every_session_including_this_one() {
    let app = init_service(build_app(state())).await;
    let here = signed_up(&app, "ada@example.com").await;
    let there = login(&app, "ada@example.com", PASSWORD).await;
    let reply =
        send(&app, TestRequest::post().uri("/api/v1/auth/logout-all").insert_header(bearer(&here.access))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    for t in [&here, &there] {
        get_me(&app, &t.access).await.problem(401, "invalid_token");
        refresh(&app, &t.refresh).await.problem(401, "invalid_token");
    }
    let reply = send(&app, TestRequest::post().uri("/api/v1/auth/logout-all")).await;
    reply.problem(401, "unauthorized");
}

#[actix_web::test]
async fn sessions_lists_the_callers_active_sessions_and_marks_the_current_one() {
    let app = init_service(build_app(state())).await;
    let first = signed_up(&app, "ada@example.com").await;
    let second = login(&app, "ada@example.com", PASSWORD).await;
    signed_up(&app, "grace@example.com").await;
    let reply = send(&app, TestRequest::get().uri("/api/v1/auth/sessions").insert_header(bearer(&second.access))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let sessions = reply.json();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], claims(&second.access)["sid"]);
    for s in sessions {
        let mut keys: Vec<_> = s.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "current", "id", "ip", "last_used_at", "user_agent"]);
    }
    assert!(sessions.iter().any(|s| s["id"] == claims(&first.access)["sid"]));
}

#[actix_web::test]
async fn ending_a_session_stops_its_access_token_at_once() {
    let app = init_service(build_app(state())).await;
    let here = signed_up(&app, "ada@example.com").await;
    let there = login(&app, "ada@example.com", PASSWORD).await;
    let sid = claims(&there.access)["sid"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/auth/sessions/{sid}");
    let reply = send(&app, TestRequest::delete().uri(&uri).insert_header(bearer(&here.access))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    get_me(&app, &there.access).await.problem(401, "invalid_token");
    refresh(&app, &there.refresh).await.problem(401, "invalid_token");
    assert_eq!(get_me(&app, &here.access).await.status, StatusCode::OK);
    // Ended already: nothing left to end.
    send(&app, TestRequest::delete().uri(&uri).insert_header(bearer(&here.access))).await.problem(404, "not_found");
}

#[actix_web::test]
async fn another_users_session_answers_404_and_survives() {
    let app = init_service(build_app(state())).await;
    let ada = signed_up(&app, "ada@example.com").await;
    let grace = signed_up(&app, "grace@example.com").await;
    let uri = format!("/api/v1/auth/sessions/{}", claims(&grace.access)["sid"].as_str().unwrap());
    send(&app, TestRequest::delete().uri(&uri).insert_header(bearer(&ada.access))).await.problem(404, "not_found");
    assert_eq!(get_me(&app, &grace.access).await.status, StatusCode::OK);
    let unknown = format!("/api/v1/auth/sessions/{}", uuid::Uuid::now_v7());
    send(&app, TestRequest::delete().uri(&unknown).insert_header(bearer(&ada.access))).await.problem(404, "not_found");
}

// --- Bearer tokens --------------------------------------------------------------------------

#[actix_web::test]
async fn no_bearer_token_answers_401_unauthorized_with_a_bare_challenge() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, TestRequest::get().uri("/api/v1/users/me")).await;
    reply.problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some(CHALLENGE));
    let basic = TestRequest::get().uri("/api/v1/users/me").insert_header((header::AUTHORIZATION, "Basic YWRhOnB3"));
    let reply = send(&app, basic).await;
    reply.problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some(CHALLENGE));
}

#[actix_web::test]
async fn a_token_in_the_query_string_is_ignored() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    for param in ["access_token", "token", "bearer"] {
        let uri = format!("/api/v1/users/me?{param}={}", tokens.access);
        send(&app, TestRequest::get().uri(&uri)).await.problem(401, "unauthorized");
    }
}

#[actix_web::test]
async fn the_bearer_scheme_is_matched_case_insensitively() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let req = TestRequest::get()
            .uri("/api/v1/users/me")
            .insert_header((header::AUTHORIZATION, format!("{scheme} {}", tokens.access)));
        assert_eq!(send(&app, req).await.status, StatusCode::OK, "{scheme}");
    }
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
}

#[actix_web::test]
async fn forged_expired_or_foreign_tokens_answer_401_invalid_token() {
    let app = init_service(build_app(state())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let genuine = claims(&tokens.access);
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: Value| {
        let mut c = genuine.clone();
        c[key] = value;
        c
    };
    // Re-signing the genuine claims with the real key works: the cases below fail for their flaw alone.
    assert_eq!(get_me(&app, &sign(&genuine, SECRET)).await.status, StatusCode::OK);
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&genuine));
    let parts: Vec<&str> = tokens.access.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&with("sub", json!(uuid::Uuid::now_v7()))), parts[2]);
    let hs512 =
        jsonwebtoken::encode(&Header::new(Algorithm::HS512), &genuine, &EncodingKey::from_secret(SECRET)).unwrap();
    let mut no_exp = genuine.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let hostile = [
        ("alg none", alg_none),
        ("another key", sign(&genuine, b"another-secret-another-secret-xx")),
        ("expired", sign(&with("exp", json!(now - 10)), SECRET)),
        ("wrong audience", sign(&with("aud", json!("someone-else")), SECRET)),
        ("wrong issuer", sign(&with("iss", json!("evil")), SECRET)),
        ("no exp", sign(&no_exp, SECRET)),
        ("HS512", hs512),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".to_owned()),
        ("unknown user", sign(&with("sub", json!(uuid::Uuid::now_v7())), SECRET)),
        ("unknown session", sign(&with("sid", json!(uuid::Uuid::now_v7())), SECRET)),
    ];
    for (what, token) in hostile {
        let reply = get_me(&app, &token).await;
        reply.problem(401, "invalid_token");
        assert_eq!(reply.header("www-authenticate"), Some(INVALID_TOKEN_CHALLENGE), "{what}");
    }
    let empty = TestRequest::get().uri("/api/v1/users/me").insert_header((header::AUTHORIZATION, "Bearer "));
    send(&app, empty).await.problem(401, "invalid_token");
}

#[actix_web::test]
async fn a_login_beyond_the_session_cap_ends_the_oldest_session() {
    let settings = AuthSettings { max_sessions_per_user: 3, ..AuthSettings::default() };
    let app = init_service(build_app(state_with(settings))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let mut logins = Vec::new();
    for _ in 0..4 {
        logins.push(login(&app, "ada@example.com", PASSWORD).await);
    }
    // The oldest session is over: its access token and its refresh token are refused.
    get_me(&app, &logins[0].access).await.problem(401, "invalid_token");
    refresh(&app, &logins[0].refresh).await.problem(401, "invalid_token");
    let sessions = send(&app, TestRequest::get().uri("/api/v1/auth/sessions").insert_header(bearer(&logins[3].access)))
        .await
        .json();
    assert_eq!(sessions.as_array().unwrap().len(), 3);
    for newer in &logins[1..] {
        assert_eq!(get_me(&app, &newer.access).await.status, StatusCode::OK);
    }
}
