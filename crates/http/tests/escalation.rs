//! No privilege escalation (v1.1): a caller grants only permissions it holds, assigns only
//! roles whose permissions it holds, and changes the role of, (de)activates or deletes only
//! users whose role's permissions it holds. Each refusal is 403 `forbidden` and audited as
//! `access.denied`; each legitimate use still works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::init_service;
use common::*;
use serde_json::{Value, json};
use storefront_domain::Permission;
use storefront_http::build_app;

fn user_id(tokens: &Tokens) -> String {
    claims(&tokens.access)["sub"].as_str().unwrap().to_owned()
}

/// The `access.denied` entries of the audit log, newest first, as an admin reads them.
async fn denials<S, B>(app: &S, admin: &Tokens) -> Vec<Value>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let reply =
        send(app, request(Method::GET, "/api/v1/admin/audit?action=access.denied&limit=100", &admin.access, None))
            .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn a_users_manage_holder_cannot_make_herself_admin_and_the_attempt_is_audited() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    create_role_with(&state, &principal(&state, &admin.access).await, "support", &[Permission::UsersManage]).await;
    let eve = signed_in_with_role(&app, &state, "eve@example.com", "support").await;
    let eve_id = user_id(&eve);

    let uri = format!("/api/v1/users/{eve_id}");
    let reply = send(&app, request(Method::PATCH, &uri, &eve.access, Some(json!({"role": "admin"})))).await;
    reply.problem(403, "forbidden");

    let me = get_me(&app, &eve.access).await.json();
    assert_eq!(me["role"], "support");
    let denied = denials(&app, &admin).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["action"], "access.denied");
    assert_eq!(denied[0]["actor_id"], eve_id.as_str());
    assert_eq!(denied[0]["target"], format!("user:{eve_id}"));
    assert_eq!(denied[0]["details"]["operation"], "assign_role");
    assert!(denied[0]["details"]["missing"].as_array().unwrap().contains(&json!("roles:manage")));
}

#[actix_web::test]
async fn a_users_manage_holder_acts_only_on_users_whose_role_it_covers() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let admin_principal = principal(&state, &admin.access).await;
    // `support` covers the `user` role (products:create) but not `moderator`.
    create_role_with(
        &state,
        &admin_principal,
        "support",
        &[Permission::UsersManage, Permission::UsersRead, Permission::ProductsCreate, Permission::AiUse],
    )
    .await;
    let eve = signed_in_with_role(&app, &state, "eve@example.com", "support").await;
    let plain = register(&app, "ada@example.com", PASSWORD).await["id"].as_str().unwrap().to_owned();
    let moderator = create_user_with_role(&state, "mod@example.com", "moderator").await.id.to_string();
    let other_admin = create_user_with_role(&state, "root@example.com", "admin").await.id.to_string();
    let patch = |id: &str, body: Value| request(Method::PATCH, &format!("/api/v1/users/{id}"), &eve.access, Some(body));
    let delete = |id: &str| request(Method::DELETE, &format!("/api/v1/users/{id}"), &eve.access, None);

    // Beyond her permissions: each refused and audited.
    send(&app, patch(&moderator, json!({"is_active": false}))).await.problem(403, "forbidden");
    send(&app, patch(&plain, json!({"role": "moderator"}))).await.problem(403, "forbidden");
    send(&app, patch(&other_admin, json!({"role": "user"}))).await.problem(403, "forbidden");
    send(&app, delete(&moderator)).await.problem(403, "forbidden");
    send(&app, delete(&other_admin)).await.problem(403, "forbidden");
    let denied = denials(&app, &admin).await;
    let seen: Vec<(String, String)> = denied
        .iter()
        .map(|e| (e["details"]["operation"].as_str().unwrap().to_owned(), e["target"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        seen,
        [
            ("delete_user".to_owned(), format!("user:{other_admin}")),
            ("delete_user".to_owned(), format!("user:{moderator}")),
            ("assign_role".to_owned(), format!("user:{other_admin}")),
            ("assign_role".to_owned(), format!("user:{plain}")),
            ("change_activation".to_owned(), format!("user:{moderator}")),
        ]
    );
    let moderator_now =
        send(&app, request(Method::GET, &format!("/api/v1/users/{moderator}"), &eve.access, None)).await.json();
    assert_eq!((moderator_now["is_active"].as_bool(), moderator_now["role"].as_str()), (Some(true), Some("moderator")));

    // Within them: deactivate, reactivate, re-role to a covered role, delete.
    let reply = send(&app, patch(&plain, json!({"is_active": false}))).await;
    assert_eq!((reply.status, reply.json()["is_active"].as_bool()), (StatusCode::OK, Some(false)));
    let reply = send(&app, patch(&plain, json!({"is_active": true, "role": "support"}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.json()["role"], "support");
    let reply = send(&app, patch(&plain, json!({"name": "Renamed"}))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(&app, delete(&plain)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    assert_eq!(denials(&app, &admin).await.len(), 5);
}

#[actix_web::test]
async fn a_roles_manage_holder_grants_only_permissions_it_holds() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let admin_principal = principal(&state, &admin.access).await;
    create_role_with(&state, &admin_principal, "rolemgr", &[Permission::RolesManage]).await;
    create_role_with(&state, &admin_principal, "editor", &[]).await;
    let carol = signed_in_with_role(&app, &state, "carol@example.com", "rolemgr").await;
    let grant = |role: &str, permission: &str| {
        request(Method::PUT, &format!("/api/v1/roles/{role}/permissions/{permission}"), &carol.access, None)
    };

    // To her own role or another one: refused for what she lacks.
    send(&app, grant("rolemgr", "users:manage")).await.problem(403, "forbidden");
    send(&app, grant("editor", "products:delete_any")).await.problem(403, "forbidden");
    let denied = denials(&app, &admin).await;
    assert_eq!(denied.len(), 2);
    assert_eq!(denied[0]["target"], "role:editor");
    assert_eq!(denied[0]["details"], json!({"operation": "grant_permission", "missing": ["products:delete_any"]}));
    assert_eq!(denied[1]["target"], "role:rolemgr");
    let mine = send(&app, request(Method::GET, "/api/v1/users/me/permissions", &carol.access, None)).await.json();
    assert_eq!(mine["permissions"], json!(["roles:manage"]));

    // What she holds she may grant; revoking stays open to her.
    assert_eq!(send(&app, grant("editor", "roles:manage")).await.status, StatusCode::NO_CONTENT);
    let revoke = request(Method::DELETE, "/api/v1/roles/editor/permissions/roles:manage", &carol.access, None);
    assert_eq!(send(&app, revoke).await.status, StatusCode::NO_CONTENT);
    assert_eq!(denials(&app, &admin).await.len(), 2);
}

#[actix_web::test]
async fn admins_are_unaffected_by_the_escalation_rule() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let moderator = create_user_with_role(&state, "mod@example.com", "moderator").await.id.to_string();
    let uri = format!("/api/v1/users/{moderator}");
    let reply = send(&app, request(Method::PATCH, &uri, &admin.access, Some(json!({"role": "admin"})))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let grant = request(Method::PUT, "/api/v1/roles/user/permissions/users:manage", &admin.access, None);
    assert_eq!(send(&app, grant).await.status, StatusCode::NO_CONTENT);
    assert_eq!(send(&app, request(Method::DELETE, &uri, &admin.access, None)).await.status, StatusCode::NO_CONTENT);
    assert!(denials(&app, &admin).await.is_empty());
}
