//! User administration (`GET /users`, `/users/{id}`), `DELETE /users/me` under the
//! last-admin rule, and the audit log (`/admin/audit`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::init_service;
use common::*;
use serde_json::{Value, json};
use storefront_http::build_app;

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect()
}

fn emails(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect()
}

fn actions(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

fn user_id(tokens: &Tokens) -> String {
    claims(&tokens.access)["sub"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn listing_users_answers_a_page_of_user_objects_newest_first_with_the_total() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    for email in ["ada@example.com", "bob@example.com", "cy@example.com"] {
        register(&app, email, PASSWORD).await;
    }
    let reply = send(&app, request(Method::GET, "/api/v1/users", &admin.access, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.json();
    assert_eq!(page["total"], 4);
    assert_eq!(page["limit"], 20);
    assert_eq!(page["offset"], 0);
    assert_eq!(emails(&page), ["cy@example.com", "bob@example.com", "ada@example.com", "admin@example.com"]);
    let mut keys: Vec<_> = page["items"][0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created_at", "email", "email_verified", "id", "is_active", "mfa_enabled", "name", "role", "updated_at"]
    );
    let mut envelope: Vec<_> = page.as_object().unwrap().keys().cloned().collect();
    envelope.sort();
    assert_eq!(envelope, ["items", "limit", "offset", "total"]);
}

#[actix_web::test]
async fn listing_users_pages_with_limit_and_offset() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    for n in 0..4 {
        register(&app, &format!("u{n}@example.com"), PASSWORD).await;
    }
    let all = send(&app, request(Method::GET, "/api/v1/users?limit=100", &admin.access, None)).await.json();
    let page = send(&app, request(Method::GET, "/api/v1/users?limit=2&offset=1", &admin.access, None)).await.json();
    assert_eq!((page["total"].as_u64(), page["limit"].as_u64(), page["offset"].as_u64()), (Some(5), Some(2), Some(1)));
    assert_eq!(ids(&page), ids(&all)[1..3]);
    let past_the_end = send(&app, request(Method::GET, "/api/v1/users?offset=50", &admin.access, None)).await.json();
    assert_eq!(past_the_end["items"], json!([]));
    assert_eq!(past_the_end["total"], 5);
}

#[actix_web::test]
async fn listing_users_filters_by_a_case_insensitive_q_and_by_role() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    register(&app, "ada@example.com", PASSWORD).await;
    register(&app, "bob@example.com", PASSWORD).await;
    create_user_with_role(&state, "mod@example.com", "moderator").await;
    let list = |query: &str| request(Method::GET, &format!("/api/v1/users?{query}"), &admin.access, None);

    let page = send(&app, list("q=BOB")).await.json();
    assert_eq!((emails(&page), page["total"].as_u64()), (vec!["bob@example.com".to_owned()], Some(1)));
    let page = send(&app, list("role=moderator")).await.json();
    assert_eq!(emails(&page), ["mod@example.com"]);
    let page = send(&app, list("role=admin&q=example")).await.json();
    assert_eq!(emails(&page), ["admin@example.com"]);
    let page = send(&app, list("q=%25")).await.json();
    assert_eq!(page["total"], 0, "`%` is matched as data, not as a pattern");
    let page = send(&app, list("role=ghost")).await.json();
    assert_eq!(page["total"], 0);
    let page = send(&app, list("q=&role=")).await.json();
    assert_eq!(page["total"], 4);
    assert_eq!(send(&app, list("role=Not%20A%20Role")).await.fields(), ["role"]);
}

#[actix_web::test]
async fn listing_users_with_a_bad_limit_or_offset_answers_422_naming_it() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let cases = [
        ("limit=0", vec!["limit"]),
        ("limit=101", vec!["limit"]),
        ("limit=-1", vec!["limit"]),
        ("limit=abc", vec!["limit"]),
        ("limit=1.5", vec!["limit"]),
        ("limit=", vec!["limit"]),
        ("limit=5&limit=6", vec!["limit"]),
        ("offset=-1", vec!["offset"]),
        ("offset=x", vec!["offset"]),
        ("offset=99999999999999999999", vec!["offset"]),
        ("limit=0&offset=-1", vec!["limit", "offset"]),
    ];
    for (query, fields) in cases {
        let reply = send(&app, request(Method::GET, &format!("/api/v1/users?{query}"), &admin.access, None)).await;
        assert_eq!(reply.fields(), fields, "{query}");
    }
    for query in ["limit=1", "limit=100", "offset=0"] {
        let reply = send(&app, request(Method::GET, &format!("/api/v1/users?{query}"), &admin.access, None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}");
    }
}

#[actix_web::test]
async fn getting_a_user_answers_200_and_an_unknown_or_malformed_id_404() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let ada = register(&app, "ada@example.com", PASSWORD).await;
    let reply = send(
        &app,
        request(Method::GET, &format!("/api/v1/users/{}", ada["id"].as_str().unwrap()), &admin.access, None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), ada);
    let unknown = format!("/api/v1/users/{}", uuid::Uuid::now_v7());
    send(&app, request(Method::GET, &unknown, &admin.access, None)).await.problem(404, "not_found");
    send(&app, request(Method::GET, "/api/v1/users/not-a-uuid", &admin.access, None)).await.problem(404, "not_found");
}

#[actix_web::test]
async fn patching_a_user_changes_only_the_fields_sent() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let ada = register(&app, "ada@example.com", PASSWORD).await;
    let uri = format!("/api/v1/users/{}", ada["id"].as_str().unwrap());

    let reply = send(&app, request(Method::PATCH, &uri, &admin.access, Some(json!({"name": " Ada King "})))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let renamed = reply.json();
    assert_eq!(
        (&renamed["name"], &renamed["role"], &renamed["is_active"]),
        (&json!("Ada King"), &json!("user"), &json!(true))
    );

    let body = json!({"role": "moderator", "is_active": false});
    let changed = send(&app, request(Method::PATCH, &uri, &admin.access, Some(body))).await.json();
    assert_eq!(
        (&changed["name"], &changed["role"], &changed["is_active"]),
        (&json!("Ada King"), &json!("moderator"), &json!(false))
    );
    assert_eq!(send(&app, request(Method::GET, &uri, &admin.access, None)).await.json(), changed);
    let unchanged = send(&app, request(Method::PATCH, &uri, &admin.access, Some(json!({})))).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(unchanged.json()["role"], "moderator");
}

#[actix_web::test]
async fn patching_a_user_to_an_unknown_role_answers_422_naming_role() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let ada = register(&app, "ada@example.com", PASSWORD).await;
    let uri = format!("/api/v1/users/{}", ada["id"].as_str().unwrap());
    for role in ["ghost", "Not A Role", ""] {
        let reply = send(&app, request(Method::PATCH, &uri, &admin.access, Some(json!({"role": role})))).await;
        assert_eq!(reply.fields(), ["role"], "{role:?}");
    }
    assert_eq!(send(&app, request(Method::GET, &uri, &admin.access, None)).await.json()["role"], "user");
}

#[actix_web::test]
async fn patching_a_user_with_an_unknown_field_a_null_or_a_wrong_type_answers_422() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let ada = register(&app, "ada@example.com", PASSWORD).await;
    let uri = format!("/api/v1/users/{}", ada["id"].as_str().unwrap());
    let cases = [
        (json!({"email": "eve@example.com"}), vec!["email"]),
        (json!({"password": "x", "role": "admin"}), vec!["password"]),
        (json!({"name": null}), vec!["name"]),
        (json!({"role": null}), vec!["role"]),
        (json!({"is_active": "yes"}), vec!["is_active"]),
        (json!({"name": "   "}), vec!["name"]),
    ];
    for (body, fields) in cases {
        let reply = send(&app, request(Method::PATCH, &uri, &admin.access, Some(body.clone()))).await;
        assert_eq!(reply.fields(), fields, "{body}");
    }
    let after = send(&app, request(Method::GET, &uri, &admin.access, None)).await.json();
    assert_eq!((&after["role"], &after["email"]), (&json!("user"), &json!("ada@example.com")));
}

#[actix_web::test]
async fn patching_an_unknown_user_answers_404() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let uri = format!("/api/v1/users/{}", uuid::Uuid::now_v7());
    let reply = send(&app, request(Method::PATCH, &uri, &admin.access, Some(json!({"name": "X"})))).await;
    reply.problem(404, "not_found");
}

#[actix_web::test]
async fn demoting_or_deactivating_the_last_active_admin_answers_409_conflict() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let uri = format!("/api/v1/users/{}", user_id(&admin));
    for body in [json!({"role": "user"}), json!({"is_active": false}), json!({"role": "moderator", "name": "X"})] {
        send(&app, request(Method::PATCH, &uri, &admin.access, Some(body))).await.problem(409, "conflict");
    }
    let me = send(&app, get_me_request(&admin.access)).await.json();
    assert_eq!((&me["role"], &me["is_active"], &me["name"]), (&json!("admin"), &json!(true), &json!("Ada")));

    let second = signed_in_with_role(&app, &state, "second@example.com", "admin").await;
    let reply = send(&app, request(Method::PATCH, &uri, &second.access, Some(json!({"role": "user"})))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let second_uri = format!("/api/v1/users/{}", user_id(&second));
    send(&app, request(Method::PATCH, &second_uri, &second.access, Some(json!({"is_active": false}))))
        .await
        .problem(409, "conflict");
}

fn get_me_request(access: &str) -> actix_web::test::TestRequest {
    request(Method::GET, "/api/v1/users/me", access, None)
}

#[actix_web::test]
async fn deactivating_a_user_ends_its_access_and_refresh_tokens_at_once() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let ada = signed_up(&app, "ada@example.com").await;
    let uri = format!("/api/v1/users/{}", user_id(&ada));
    assert_eq!(send(&app, get_me_request(&ada.access)).await.status, StatusCode::OK);

    let reply = send(&app, request(Method::PATCH, &uri, &admin.access, Some(json!({"is_active": false})))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["is_active"], false);
    let refused = send(&app, get_me_request(&ada.access)).await;
    refused.problem(401, "invalid_token");
    assert!(refused.header("www-authenticate").is_some_and(|c| c.contains("invalid_token")));
    refresh(&app, &ada.refresh).await.problem(401, "invalid_token");
    let login = post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}));
    send(&app, login).await.problem(401, "invalid_credentials");

    let reply = send(&app, request(Method::PATCH, &uri, &admin.access, Some(json!({"is_active": true})))).await;
    assert_eq!(reply.json()["is_active"], true);
    let again = common::login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(send(&app, get_me_request(&again.access)).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn deleting_a_user_answers_204_and_the_user_and_its_tokens_are_gone() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let ada = signed_up(&app, "ada@example.com").await;
    let uri = format!("/api/v1/users/{}", user_id(&ada));
    let reply = send(&app, request(Method::DELETE, &uri, &admin.access, None)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
    send(&app, request(Method::GET, &uri, &admin.access, None)).await.problem(404, "not_found");
    send(&app, request(Method::DELETE, &uri, &admin.access, None)).await.problem(404, "not_found");
    send(&app, get_me_request(&ada.access)).await.problem(401, "invalid_token");
    refresh(&app, &ada.refresh).await.problem(401, "invalid_token");
}

#[actix_web::test]
async fn deleting_the_last_active_admin_answers_409_conflict() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let uri = format!("/api/v1/users/{}", user_id(&admin));
    send(&app, request(Method::DELETE, &uri, &admin.access, None)).await.problem(409, "conflict");
    send(&app, request(Method::DELETE, "/api/v1/users/me", &admin.access, None)).await.problem(409, "conflict");
    assert_eq!(send(&app, get_me_request(&admin.access)).await.status, StatusCode::OK);

    let second = signed_in_with_role(&app, &state, "second@example.com", "admin").await;
    let reply = send(&app, request(Method::DELETE, &uri, &second.access, None)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    send(&app, request(Method::DELETE, "/api/v1/users/me", &second.access, None)).await.problem(409, "conflict");
}

#[actix_web::test]
async fn deleting_oneself_is_audited_as_user_deleted_with_oneself_as_actor() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let ada = signed_up(&app, "ada@example.com").await;
    let ada_id = user_id(&ada);
    let reply = send(&app, request(Method::DELETE, "/api/v1/users/me", &ada.access, None)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let log = send(&app, request(Method::GET, "/api/v1/admin/audit?action=user.deleted", &admin.access, None)).await;
    assert_eq!(log.status, StatusCode::OK);
    let log = log.json();
    assert_eq!(log["total"], 1);
    let entry = &log["items"][0];
    assert_eq!(entry["actor_id"], ada_id.as_str());
    assert_eq!(entry["target"], format!("user:{ada_id}"));
    assert_eq!(entry["details"], json!({"email": "ada@example.com"}));
    let by_ada =
        send(&app, request(Method::GET, &format!("/api/v1/admin/audit?actor_id={ada_id}"), &admin.access, None)).await;
    assert_eq!(actions(&by_ada.json()), ["user.deleted"]);
}

/// Makes one change of every audited kind, as `admin`, in this order.
async fn every_kind_of_change<S, B>(app: &S, admin: &Tokens) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let ada = register(app, "ada@example.com", PASSWORD).await;
    let ada_uri = format!("/api/v1/users/{}", ada["id"].as_str().unwrap());
    let steps = [
        (Method::POST, "/api/v1/roles".to_owned(), Some(json!({"name": "editor", "description": "Edits"}))),
        (Method::PUT, "/api/v1/roles/editor/permissions/users:read".to_owned(), None),
        (Method::PUT, "/api/v1/roles/editor/permissions/users:read".to_owned(), None), // no change: not audited
        (Method::DELETE, "/api/v1/roles/editor/permissions/users:read".to_owned(), None),
        (Method::PATCH, ada_uri.clone(), Some(json!({"role": "editor"}))),
        (Method::PATCH, ada_uri.clone(), Some(json!({"is_active": false}))),
        (Method::PATCH, ada_uri.clone(), Some(json!({"is_active": true, "role": "user"}))),
        (Method::DELETE, "/api/v1/roles/editor".to_owned(), None),
        (Method::DELETE, ada_uri.clone(), None),
    ];
    for (method, uri, body) in steps {
        let reply = send(app, request(method.clone(), &uri, &admin.access, body)).await;
        assert!(reply.status.is_success(), "{method} {uri}: {:?}", reply.body);
    }
    ada["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn the_audit_log_records_every_kind_of_change_newest_first() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let admin_id = user_id(&admin);
    let ada = every_kind_of_change(&app, &admin).await;
    let reply = send(&app, request(Method::GET, "/api/v1/admin/audit", &admin.access, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let log = reply.json();
    assert_eq!((log["total"].as_u64(), log["limit"].as_u64(), log["offset"].as_u64()), (Some(9), Some(20), Some(0)));
    // Newest first; the two entries of one change keep the order they were made in.
    let expected = [
        ("user.deleted", format!("user:{ada}"), json!({"email": "ada@example.com"})),
        ("role.deleted", "role:editor".to_owned(), json!({})),
        ("user.activated", format!("user:{ada}"), json!({})),
        ("user.role_changed", format!("user:{ada}"), json!({"from": "editor", "to": "user"})),
        ("user.deactivated", format!("user:{ada}"), json!({})),
        ("user.role_changed", format!("user:{ada}"), json!({"from": "user", "to": "editor"})),
        ("role.permission_revoked", "role:editor".to_owned(), json!({"permission": "users:read"})),
        ("role.permission_granted", "role:editor".to_owned(), json!({"permission": "users:read"})),
        ("role.created", "role:editor".to_owned(), json!({"description": "Edits"})),
    ];
    let entries = log["items"].as_array().unwrap();
    assert_eq!(entries.len(), expected.len(), "{log}");
    for (entry, (action, target, details)) in entries.iter().zip(expected) {
        assert_eq!(
            (entry["action"].as_str().unwrap(), &entry["target"], &entry["details"]),
            (action, &json!(target), &details)
        );
        assert_eq!(entry["actor_id"], admin_id.as_str());
        assert!(uuid::Uuid::parse_str(entry["id"].as_str().unwrap()).is_ok());
        assert!(
            entry["at"]
                .as_str()
                .is_some_and(|at| at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(at).is_ok())
        );
        let mut keys: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["action", "actor_id", "at", "details", "id", "target"]);
    }
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let parsed: Vec<_> = times.iter().map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

#[actix_web::test]
async fn the_audit_log_filters_by_action_and_actor_and_pages() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    every_kind_of_change(&app, &admin).await;
    let other = signed_in_with_role(&app, &state, "other@example.com", "admin").await;
    let other_id = user_id(&other);
    let create = request(Method::POST, "/api/v1/roles", &other.access, Some(json!({"name": "sales"})));
    assert_eq!(send(&app, create).await.status, StatusCode::CREATED);
    let audit = |query: String| request(Method::GET, &format!("/api/v1/admin/audit?{query}"), &admin.access, None);

    let created = send(&app, audit("action=role.created".into())).await.json();
    assert_eq!(created["total"], 2);
    let targets: Vec<_> = created["items"].as_array().unwrap().iter().map(|e| e["target"].clone()).collect();
    assert_eq!(targets, [json!("role:sales"), json!("role:editor")]);

    let by_other = send(&app, audit(format!("actor_id={other_id}"))).await.json();
    assert_eq!((actions(&by_other), by_other["total"].as_u64()), (vec!["role.created".to_owned()], Some(1)));
    let both = send(&app, audit(format!("actor_id={other_id}&action=role.deleted"))).await.json();
    assert_eq!(both["total"], 0);
    let nobody = send(&app, audit(format!("actor_id={}", uuid::Uuid::now_v7()))).await.json();
    assert_eq!((nobody["items"].clone(), nobody["total"].as_u64()), (json!([]), Some(0)));

    let all = send(&app, audit("limit=100".into())).await.json();
    assert_eq!(all["total"], 10);
    let page = send(&app, audit("limit=3&offset=2".into())).await.json();
    assert_eq!((page["total"].as_u64(), page["limit"].as_u64(), page["offset"].as_u64()), (Some(10), Some(3), Some(2)));
    assert_eq!(page["items"].as_array().unwrap()[..], all["items"].as_array().unwrap()[2..5]);
}

#[actix_web::test]
async fn the_audit_log_refuses_an_unknown_action_a_malformed_actor_or_a_bad_page_with_422() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let cases = [
        ("action=user.flew", vec!["action"]),
        ("action=ROLE.CREATED", vec!["action"]),
        ("actor_id=42", vec!["actor_id"]),
        ("action=nope&actor_id=nope", vec!["action", "actor_id"]),
        ("action=nope&limit=0", vec!["action", "limit"]),
        ("offset=-5", vec!["offset"]),
    ];
    for (query, fields) in cases {
        let reply =
            send(&app, request(Method::GET, &format!("/api/v1/admin/audit?{query}"), &admin.access, None)).await;
        assert_eq!(reply.fields(), fields, "{query}");
    }
    for query in ["action=", "actor_id=", "action=user.deleted&limit=100&offset=0"] {
        let reply =
            send(&app, request(Method::GET, &format!("/api/v1/admin/audit?{query}"), &admin.access, None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}");
    }
}
