//! Roles and permissions: `/permissions`, `/roles`, grants and `/users/me/permissions`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::init_service;
use common::*;
use serde_json::{Value, json};
use storefront_domain::Permission;
use storefront_http::build_app;

fn role_named<'a>(roles: &'a Value, name: &str) -> &'a Value {
    roles.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no role {name} in {roles}"))
}

#[actix_web::test]
async fn the_permission_catalogue_lists_every_permission_with_its_description() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let reply = send(&app, request(Method::GET, "/api/v1/permissions", &admin.access, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    let names: Vec<&str> = body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, Permission::ALL.map(Permission::as_str));
    for permission in body.as_array().unwrap() {
        assert_eq!(permission.as_object().unwrap().len(), 2, "{permission}");
        assert!(permission["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

#[actix_web::test]
async fn the_roles_list_shows_the_builtin_roles_with_their_default_grants() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let reply = send(&app, request(Method::GET, "/api/v1/roles", &admin.access, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let roles = reply.json();
    assert_eq!(
        role_named(&roles, "user"),
        &json!({"name": "user", "description": role_named(&roles, "user")["description"], "builtin": true, "permissions": ["ai:use", "products:create"]})
    );
    assert_eq!(
        role_named(&roles, "moderator")["permissions"],
        json!(["ai:use", "analytics:read", "orders:read_all", "products:create", "reviews:moderate", "users:read"])
    );
    let mut every: Vec<&str> = Permission::ALL.map(Permission::as_str).to_vec();
    every.sort_unstable();
    assert_eq!(role_named(&roles, "admin")["permissions"], json!(every));
    assert_eq!(role_named(&roles, "admin")["builtin"], true);
}

#[actix_web::test]
async fn creating_a_role_answers_201_with_location_and_the_role() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let body = json!({"name": "editor", "description": "Curates the catalogue"});
    let reply = send(&app, request(Method::POST, "/api/v1/roles", &admin.access, Some(body))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.header("location"), Some("/api/v1/roles/editor"));
    let created =
        json!({"name": "editor", "description": "Curates the catalogue", "builtin": false, "permissions": []});
    assert_eq!(reply.json(), created);
    let fetched = send(&app, request(Method::GET, "/api/v1/roles/editor", &admin.access, None)).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json(), created);
    let roles = send(&app, request(Method::GET, "/api/v1/roles", &admin.access, None)).await.json();
    assert_eq!(role_named(&roles, "editor"), &created);
}

#[actix_web::test]
async fn a_role_created_without_a_description_gets_an_empty_one() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let reply =
        send(&app, request(Method::POST, "/api/v1/roles", &admin.access, Some(json!({"name": "editor"})))).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["description"], "");
}

#[actix_web::test]
async fn creating_a_role_that_exists_answers_409_conflict() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let create = |name: &str| request(Method::POST, "/api/v1/roles", &admin.access, Some(json!({"name": name})));
    assert_eq!(send(&app, create("editor")).await.status, StatusCode::CREATED);
    send(&app, create("editor")).await.problem(409, "conflict");
    send(&app, create("moderator")).await.problem(409, "conflict");
}

#[actix_web::test]
async fn creating_a_role_with_a_bad_name_or_body_answers_422_naming_the_field() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let cases = [
        (json!({"name": "Editor"}), vec!["name"]),
        (json!({"name": ""}), vec!["name"]),
        (json!({"name": "1st"}), vec!["name"]),
        (json!({"name": "a b"}), vec!["name"]),
        (json!({"name": "a".repeat(51)}), vec!["name"]),
        (json!({"name": "editor", "description": "x".repeat(501)}), vec!["description"]),
        (json!({"name": "editor", "description": null}), vec!["description"]),
        (json!({"description": "no name"}), vec!["name"]),
        (json!({"name": "editor", "builtin": true}), vec!["builtin"]),
    ];
    for (body, fields) in cases {
        let reply = send(&app, request(Method::POST, "/api/v1/roles", &admin.access, Some(body.clone()))).await;
        assert_eq!(reply.fields(), fields, "{body}");
    }
}

#[actix_web::test]
async fn deleting_a_role_answers_204_and_it_is_gone() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    send(&app, request(Method::POST, "/api/v1/roles", &admin.access, Some(json!({"name": "editor"})))).await;
    let reply = send(&app, request(Method::DELETE, "/api/v1/roles/editor", &admin.access, None)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
    send(&app, request(Method::GET, "/api/v1/roles/editor", &admin.access, None)).await.problem(404, "not_found");
    send(&app, request(Method::DELETE, "/api/v1/roles/editor", &admin.access, None)).await.problem(404, "not_found");
}

#[actix_web::test]
async fn deleting_an_unknown_role_answers_404() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    for name in ["ghost", "Not%20A%20Name"] {
        let uri = format!("/api/v1/roles/{name}");
        send(&app, request(Method::DELETE, &uri, &admin.access, None)).await.problem(404, "not_found");
    }
}

#[actix_web::test]
async fn deleting_a_builtin_role_answers_409_conflict() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    for name in ["user", "moderator", "admin"] {
        let uri = format!("/api/v1/roles/{name}");
        send(&app, request(Method::DELETE, &uri, &admin.access, None)).await.problem(409, "conflict");
    }
}

#[actix_web::test]
async fn deleting_a_role_still_held_by_a_user_answers_409_conflict() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    create_role_with(&state, &principal(&state, &admin.access).await, "editor", &[]).await;
    create_user_with_role(&state, "ed@example.com", "editor").await;
    send(&app, request(Method::DELETE, "/api/v1/roles/editor", &admin.access, None)).await.problem(409, "conflict");
}

#[actix_web::test]
async fn granting_and_revoking_a_permission_answer_204_and_are_idempotent() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    send(&app, request(Method::POST, "/api/v1/roles", &admin.access, Some(json!({"name": "editor"})))).await;
    let uri = "/api/v1/roles/editor/permissions/categories:manage";
    let permissions = || async {
        send(&app, request(Method::GET, "/api/v1/roles/editor", &admin.access, None)).await.json()["permissions"]
            .clone()
    };
    for _ in 0..2 {
        let reply = send(&app, request(Method::PUT, uri, &admin.access, None)).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert!(reply.body.is_empty());
        assert_eq!(permissions().await, json!(["categories:manage"]));
    }
    for _ in 0..2 {
        let reply = send(&app, request(Method::DELETE, uri, &admin.access, None)).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert_eq!(permissions().await, json!([]));
    }
}

#[actix_web::test]
async fn granting_or_revoking_on_an_unknown_role_or_permission_answers_404() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    for method in [Method::PUT, Method::DELETE] {
        for uri in [
            "/api/v1/roles/ghost/permissions/users:read",
            "/api/v1/roles/moderator/permissions/users:fly",
            "/api/v1/roles/Bad%20Name/permissions/users:read",
        ] {
            send(&app, request(method.clone(), uri, &admin.access, None)).await.problem(404, "not_found");
        }
    }
}

#[actix_web::test]
async fn the_grants_of_admin_cannot_change() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    for method in [Method::PUT, Method::DELETE] {
        let uri = "/api/v1/roles/admin/permissions/users:read";
        send(&app, request(method, uri, &admin.access, None)).await.problem(409, "conflict");
    }
    let mine = send(&app, request(Method::GET, "/api/v1/users/me/permissions", &admin.access, None)).await.json();
    assert_eq!(mine["permissions"].as_array().unwrap().len(), Permission::ALL.len());
}

#[actix_web::test]
async fn my_permissions_answer_my_role_and_its_sorted_permissions() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let user = signed_up(&app, "ada@example.com").await;
    let reply = send(&app, request(Method::GET, "/api/v1/users/me/permissions", &user.access, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"role": "user", "permissions": ["ai:use", "products:create"]}));

    let admin = signed_in_admin(&app, &state).await;
    let actor = principal(&state, &admin.access).await;
    create_role_with(&state, &actor, "editor", &[Permission::UsersRead, Permission::CategoriesManage]).await;
    let editor = signed_in_with_role(&app, &state, "ed@example.com", "editor").await;
    let reply = send(&app, request(Method::GET, "/api/v1/users/me/permissions", &editor.access, None)).await;
    assert_eq!(reply.json(), json!({"role": "editor", "permissions": ["categories:manage", "users:read"]}));
}

#[actix_web::test]
async fn my_permissions_without_a_token_answer_401() {
    let app = init_service(build_app(state())).await;
    let reply = send(&app, actix_web::test::TestRequest::get().uri("/api/v1/users/me/permissions")).await;
    reply.problem(401, "unauthorized");
    assert!(reply.header("www-authenticate").is_some());
}
