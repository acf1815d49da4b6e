//! Permission checks at the route: every permission-protected operation of the table in
//! `storefront_http::operations` refuses anonymous callers (401) and callers without its
//! permission (403) and serves its holders; the table's access and the OpenAPI document
//! agree; grant and role changes count from the next request.
//!
//! To protect a new operation: declare it with its permission in `operations` and add an
//! arm to `probe` below saying how to call it. A protected operation without an arm fails
//! the walker by name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::{TestRequest, init_service};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use storefront_app::ports::{PageRequest, SystemClock};
use storefront_app::{
    AuthSettings, ClientContext, EventHandler, HandlerError, OutboxDispatcher, OutboxSettings, Principal, ProductInput,
    RetryPolicy, ReviewInput,
};
use storefront_domain::DomainEvent;
use storefront_domain::{Permission, PlainPassword, ProductId, RequestedLine};
use storefront_http::operations::{Access, Operation, operations};
use storefront_http::permissions::Guard;
use storefront_http::{AppState, build_app, openapi};
use storefront_memory::MemoryStore;

/// A handler that never succeeds, to make dead letters.
struct AlwaysFails;

#[async_trait::async_trait]
impl EventHandler for AlwaysFails {
    async fn handle(&self, _: &DomainEvent) -> Result<(), HandlerError> {
        Err(HandlerError::Failed("always fails".into()))
    }
}

/// How to call one protected operation: the same request for every caller, and the status
/// a holder of the permission gets.
struct Probe {
    method: Method,
    uri: String,
    body: Option<Value>,
    success: StatusCode,
}

impl Probe {
    fn new(method: Method, uri: impl Into<String>, success: StatusCode) -> Self {
        Self { method, uri: uri.into(), body: None, success }
    }

    fn json(self, body: Value) -> Self {
        Self { body: Some(body), ..self }
    }

    fn request(&self, access: Option<&str>) -> TestRequest {
        let mut req = TestRequest::default().method(self.method.clone()).uri(&self.uri);
        if let Some(access) = access {
            req = req.insert_header(bearer(access));
        }
        match &self.body {
            Some(body) => req.set_json(body),
            None => req,
        }
    }
}

/// What a request builder may use to prepare the resource it calls.
struct World {
    state: AppState,
    /// The store behind `state`, to reach what no endpoint shows (the outbox).
    store: MemoryStore,
    /// An admin, to create resources through the services. Resources a probe prepares
    /// belong to the admin (or to nobody), never to the callers the walker tries: an
    /// owner-or-permission row (`Guard::OwnerOr`) must then refuse the plain user with 403
    /// and serve the holder of the overriding permission.
    admin: Principal,
}

impl World {
    /// A fresh account (role `user`) to read, change or delete; `n` keeps emails apart.
    async fn victim(&self, n: usize) -> String {
        create_user_with_role(&self.state, &format!("victim-{n}@example.com"), "user").await.id.to_string()
    }

    /// A conversation of the admin's.
    async fn conversation(&self) -> String {
        self.state.assistant.create_conversation(&self.admin, None).await.unwrap().id.to_string()
    }

    /// A fresh custom role with the given grants.
    async fn role(&self, name: &str, permissions: &[Permission]) -> String {
        create_role_with(&self.state, &self.admin, name, permissions).await;
        name.to_owned()
    }

    /// A fresh product of the admin's.
    async fn product(&self, n: usize) -> String {
        let input = ProductInput {
            name: Some(format!("Probe product {n}")),
            price_cents: Some(100),
            stock: Some(1),
            ..ProductInput::default()
        };
        self.state.catalog.create_product(&self.admin, input).await.unwrap().id.to_string()
    }

    /// A fresh category.
    async fn category(&self, n: usize) -> String {
        self.state.catalog.create_category(&format!("Probe category {n}"), None).await.unwrap().id.to_string()
    }

    /// A fresh dead letter: the `user.registered` event of a fresh account, whose handling
    /// failed for good (a handler that always fails, one try).
    async fn dead_letter(&self, n: usize) -> String {
        let user = create_user_with_role(&self.state, &format!("dead-letter-{n}@example.com"), "user").await;
        let policy = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
        let outbox = Arc::new(self.store.clone());
        let dispatcher = OutboxDispatcher::new(
            outbox,
            Arc::new(AlwaysFails),
            Arc::new(SystemClock),
            policy,
            OutboxSettings::default(),
        );
        dispatcher.run_once().await.unwrap();
        let dead = self.state.dead_letters.list(PageRequest { limit: 100, offset: 0 }).await.unwrap();
        let letter = dead.items.iter().find(|d| d.event.payload["user_id"] == user.id.to_string()).unwrap();
        letter.event.id.to_string()
    }

    /// A fresh order of the admin's, for one unit of a fresh product of its own.
    async fn order(&self, n: usize) -> String {
        let product = self.product(n).await.parse::<uuid::Uuid>().unwrap();
        let line = RequestedLine { product_id: ProductId(product), quantity: 1 };
        self.state.orders.place(&self.admin, vec![line]).await.unwrap().id.to_string()
    }

    /// A fresh review of the admin's product by a fresh account (a victim, logged in
    /// through the services), so that only the override can delete it.
    async fn review(&self, n: usize) -> String {
        let product = self.product(n).await.parse::<uuid::Uuid>().unwrap().into();
        let email = format!("reviewer-{n}@example.com");
        create_user_with_role(&self.state, &email, "user").await;
        let password = PlainPassword::new(PASSWORD.to_owned());
        let pair = self.state.auth.login(&email, &password, ClientContext::default()).await.unwrap();
        let reviewer = principal(&self.state, &pair.access_token).await;
        let input = ReviewInput { rating: Some(4), body: None };
        self.state.catalog.create_review(&reviewer, product, input).await.unwrap().id.to_string()
    }
}

/// The request builder of every permission-protected operation, keyed by (method, OpenAPI
/// path). It may prepare the resource first (see `World`), so that the holder's call
/// succeeds; `n` is the row's index, to name what it creates uniquely.
async fn probe(world: &World, n: usize, op: &Operation) -> Option<Probe> {
    Some(match (op.method, op.path.as_str()) {
        ("get", "/api/v1/permissions") => Probe::new(Method::GET, "/api/v1/permissions", StatusCode::OK),
        ("get", "/api/v1/roles") => Probe::new(Method::GET, "/api/v1/roles", StatusCode::OK),
        ("post", "/api/v1/roles") => {
            Probe::new(Method::POST, "/api/v1/roles", StatusCode::CREATED).json(json!({"name": format!("created-{n}")}))
        }
        ("get", "/api/v1/roles/{name}") => Probe::new(Method::GET, "/api/v1/roles/moderator", StatusCode::OK),
        ("delete", "/api/v1/roles/{name}") => {
            let role = world.role(&format!("doomed-{n}"), &[]).await;
            Probe::new(Method::DELETE, format!("/api/v1/roles/{role}"), StatusCode::NO_CONTENT)
        }
        ("put", "/api/v1/roles/{name}/permissions/{permission}") => {
            // A permission the holder (of roles:manage alone) holds: granting others is escalation.
            let role = world.role(&format!("granted-{n}"), &[]).await;
            Probe::new(Method::PUT, format!("/api/v1/roles/{role}/permissions/roles:manage"), StatusCode::NO_CONTENT)
        }
        ("delete", "/api/v1/roles/{name}/permissions/{permission}") => {
            let role = world.role(&format!("revoked-{n}"), &[Permission::UsersRead]).await;
            Probe::new(Method::DELETE, format!("/api/v1/roles/{role}/permissions/users:read"), StatusCode::NO_CONTENT)
        }
        ("get", "/api/v1/admin/audit") => Probe::new(Method::GET, "/api/v1/admin/audit", StatusCode::OK),
        ("get", "/api/v1/users") => Probe::new(Method::GET, "/api/v1/users?limit=5", StatusCode::OK),
        ("get", "/api/v1/users/{id}") => {
            Probe::new(Method::GET, format!("/api/v1/users/{}", world.victim(n).await), StatusCode::OK)
        }
        ("patch", "/api/v1/users/{id}") => {
            Probe::new(Method::PATCH, format!("/api/v1/users/{}", world.victim(n).await), StatusCode::OK)
                .json(json!({"name": "Renamed"}))
        }
        ("delete", "/api/v1/users/{id}") => {
            // A user whose role the holder (of users:manage alone) covers: no escalation.
            let role = world.role(&format!("bare-{n}"), &[]).await;
            let victim = create_user_with_role(&world.state, &format!("bare-{n}@example.com"), &role).await;
            Probe::new(Method::DELETE, format!("/api/v1/users/{}", victim.id), StatusCode::NO_CONTENT)
        }
        ("delete", "/api/v1/users/{id}/mfa") => {
            // As for a deletion: a user whose role the holder covers.
            let role = world.role(&format!("second-factor-{n}"), &[]).await;
            let victim = create_user_with_role(&world.state, &format!("mfa-{n}@example.com"), &role).await;
            Probe::new(Method::DELETE, format!("/api/v1/users/{}/mfa", victim.id), StatusCode::NO_CONTENT)
        }
        ("post", "/api/v1/products") => Probe::new(Method::POST, "/api/v1/products", StatusCode::CREATED)
            .json(json!({"name": format!("Created {n}"), "price_cents": 1999, "stock": 3})),
        ("patch", "/api/v1/products/{id}") => {
            Probe::new(Method::PATCH, format!("/api/v1/products/{}", world.product(n).await), StatusCode::OK)
                .json(json!({"name": "Renamed"}))
        }
        ("delete", "/api/v1/products/{id}") => {
            Probe::new(Method::DELETE, format!("/api/v1/products/{}", world.product(n).await), StatusCode::NO_CONTENT)
        }
        ("post", "/api/v1/categories") => Probe::new(Method::POST, "/api/v1/categories", StatusCode::CREATED)
            .json(json!({"name": format!("Created {n}")})),
        ("patch", "/api/v1/categories/{id}") => {
            Probe::new(Method::PATCH, format!("/api/v1/categories/{}", world.category(n).await), StatusCode::OK)
                .json(json!({"name": "Renamed"}))
        }
        ("delete", "/api/v1/categories/{id}") => Probe::new(
            Method::DELETE,
            format!("/api/v1/categories/{}", world.category(n).await),
            StatusCode::NO_CONTENT,
        ),
        ("get", "/api/v1/orders") => Probe::new(Method::GET, "/api/v1/orders?scope=all", StatusCode::OK),
        ("get", "/api/v1/orders/{id}") => {
            Probe::new(Method::GET, format!("/api/v1/orders/{}", world.order(n).await), StatusCode::OK)
        }
        ("post", "/api/v1/orders/{id}/cancel") => {
            Probe::new(Method::POST, format!("/api/v1/orders/{}/cancel", world.order(n).await), StatusCode::OK)
        }
        ("patch", "/api/v1/orders/{id}") => {
            Probe::new(Method::PATCH, format!("/api/v1/orders/{}", world.order(n).await), StatusCode::OK)
                .json(json!({"status": "paid"}))
        }
        ("get", "/api/v1/admin/stats") => Probe::new(Method::GET, "/api/v1/admin/stats", StatusCode::OK),
        ("get", "/api/v1/admin/events/dead-letters") => {
            Probe::new(Method::GET, "/api/v1/admin/events/dead-letters", StatusCode::OK)
        }
        ("post", "/api/v1/admin/events/dead-letters/{id}/retry") => Probe::new(
            Method::POST,
            format!("/api/v1/admin/events/dead-letters/{}/retry", world.dead_letter(n).await),
            StatusCode::ACCEPTED,
        ),
        ("get", "/api/v1/admin/reviews") => {
            Probe::new(Method::GET, "/api/v1/admin/reviews?status=approved", StatusCode::OK)
        }
        ("post", "/api/v1/admin/reviews/{id}/decision") => Probe::new(
            Method::POST,
            format!("/api/v1/admin/reviews/{}/decision", world.review(n).await),
            StatusCode::OK,
        )
        .json(json!({"decision": "reject"})),
        ("delete", "/api/v1/reviews/{id}") => {
            Probe::new(Method::DELETE, format!("/api/v1/reviews/{}", world.review(n).await), StatusCode::NO_CONTENT)
        }
        // The assistant (#18). A conversation prepared here is the admin's: to the holder it
        // is another user's, which the contract hides (404) once the permission let it in.
        ("post", "/api/v1/ai/chat") => {
            Probe::new(Method::POST, "/api/v1/ai/chat", StatusCode::OK).json(json!({"message": "a desk"}))
        }
        ("post", "/api/v1/chat/conversations") => {
            Probe::new(Method::POST, "/api/v1/chat/conversations", StatusCode::CREATED).json(json!({}))
        }
        ("get", "/api/v1/chat/conversations") => Probe::new(Method::GET, "/api/v1/chat/conversations", StatusCode::OK),
        ("get", "/api/v1/chat/conversations/{id}") => Probe::new(
            Method::GET,
            format!("/api/v1/chat/conversations/{}", world.conversation().await),
            StatusCode::NOT_FOUND,
        ),
        ("delete", "/api/v1/chat/conversations/{id}") => Probe::new(
            Method::DELETE,
            format!("/api/v1/chat/conversations/{}", world.conversation().await),
            StatusCode::NOT_FOUND,
        ),
        ("get", "/api/v1/chat/conversations/{id}/messages") => Probe::new(
            Method::GET,
            format!("/api/v1/chat/conversations/{}/messages", world.conversation().await),
            StatusCode::NOT_FOUND,
        ),
        // The text utilities (#19).
        ("post", "/api/v1/ai/summarize") => Probe::new(Method::POST, "/api/v1/ai/summarize", StatusCode::OK)
            .json(json!({"text": "A sturdy walnut desk. It fits small rooms."})),
        ("post", "/api/v1/ai/moderate") => {
            Probe::new(Method::POST, "/api/v1/ai/moderate", StatusCode::OK).json(json!({"text": "A fine desk."}))
        }
        ("post", "/api/v1/ai/classify") => Probe::new(Method::POST, "/api/v1/ai/classify", StatusCode::OK)
            .json(json!({"text": "A fine desk.", "labels": ["furniture", "lighting"]})),
        ("post", "/api/v1/ai/generate") => Probe::new(Method::POST, "/api/v1/ai/generate", StatusCode::OK)
            .json(json!({"kind": "email", "prompt": "a desk sale"})),
        // The assistant's catalogue features (#19). The product is the admin's: the plain
        // user is not its owner (403); the holder of products:update_any gets a suggestion.
        ("post", "/api/v1/products/{id}/description/suggestion") => Probe::new(
            Method::POST,
            format!("/api/v1/products/{}/description/suggestion", world.product(n).await),
            StatusCode::OK,
        )
        .json(json!({"tone": "premium"})),
        ("get", "/api/v1/admin/ai-usage") => Probe::new(Method::GET, "/api/v1/admin/ai-usage", StatusCode::OK),
        _ => return None,
    })
}

#[actix_web::test]
async fn every_protected_operation_refuses_anonymous_and_unprivileged_callers_and_serves_holders() {
    let store = MemoryStore::new();
    let state = state_on(store.clone(), AuthSettings::default());
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let world = World { admin: principal(&state, &admin.access).await, state: state.clone(), store };
    let plain = signed_up(&app, "plain@example.com").await;
    let plain_permissions = send(&app, request(Method::GET, "/api/v1/users/me/permissions", &plain.access, None)).await;
    assert_eq!(plain_permissions.json(), json!({"role": "user", "permissions": ["ai:use", "products:create"]}));
    let user_holds =
        |p: Permission| plain_permissions.json()["permissions"].as_array().unwrap().contains(&json!(p.as_str()));

    let mut without_builder = Vec::new();
    let mut walked = 0;
    for (n, op) in operations().iter().enumerate() {
        let Some((permission, guard)) = op.permission() else { continue };
        walked += 1;
        let name = format!("{} {}", op.method.to_uppercase(), op.path);
        let Some(probe) = probe(&world, n, op).await else {
            without_builder.push(name);
            continue;
        };

        let anonymous = send(&app, probe.request(None)).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{name} as anonymous: {:?}", anonymous.body);
        anonymous.problem(401, "unauthorized");
        assert!(anonymous.header("www-authenticate").is_some_and(|c| c.starts_with("Bearer")), "{name}");

        if !user_holds(permission) {
            let refused = send(&app, probe.request(Some(&plain.access))).await;
            match guard {
                Guard::OwnerOrHidden => {
                    refused.problem(404, "not_found");
                }
                Guard::Required | Guard::OwnerOr => {
                    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{name} as a plain user: {:?}", refused.body);
                    refused.problem(403, "forbidden");
                }
            }
        }

        let role = format!("holder-{n}");
        create_role_with(&state, &world.admin, &role, &[permission]).await;
        let holder = signed_in_with_role(&app, &state, &format!("holder-{n}@example.com"), &role).await;
        let served = send(&app, probe.request(Some(&holder.access))).await;
        assert_eq!(served.status, probe.success, "{name} as a holder of {permission}: {:?}", served.body);
    }
    assert!(walked > 20, "only {walked} protected operations: is the table read?");
    assert!(
        without_builder.is_empty(),
        "protected operations without a request builder in `probe`: {without_builder:?}"
    );
}

#[test]
fn an_operation_takes_a_token_exactly_when_its_declaration_says_so() {
    let doc = serde_json::to_value(openapi()).unwrap();
    for op in operations() {
        let name = format!("{} {}", op.method.to_uppercase(), op.path);
        let documented = &doc["paths"][&op.path][op.method];
        // An empty requirement (`{}`) among them makes the token optional (`GET /products`).
        let optional = |s: &Vec<Value>| s.iter().any(|r| r.as_object().is_some_and(|o| o.is_empty()));
        let secured =
            documented.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty() && !optional(s));
        assert_eq!(secured, op.access != Access::Public, "{name}: documented security vs declared {:?}", op.access);
        if op.permission().is_none() {
            assert!(
                documented.get("x-required-permission").is_none(),
                "{name} names a permission it is not declared with"
            );
        }
    }
}

#[test]
fn every_protected_operation_is_documented_with_its_permission_and_its_refusals() {
    let doc = serde_json::to_value(openapi()).unwrap();
    for op in operations() {
        let Some((permission, guard)) = op.permission() else { continue };
        let name = format!("{} {}", op.method.to_uppercase(), op.path);
        let documented = &doc["paths"][&op.path][op.method];
        assert!(documented.is_object(), "{name} is not in the document");
        assert_eq!(documented["x-required-permission"], permission.as_str(), "{name}");
        assert_eq!(documented["security"], json!([{"oauth2": []}, {"bearer": []}]), "{name}");
        let responses = documented["responses"].as_object().unwrap();
        let refusal = if guard == Guard::OwnerOrHidden { "404" } else { "403" };
        for status in ["401", refusal, "500", "503"] {
            assert!(responses.contains_key(status), "{name} does not document {status}");
        }
        let description = documented["description"].as_str().unwrap_or_default();
        match guard {
            Guard::Required => assert!(description.contains(&format!("`{permission}`")), "{name}: {description}"),
            Guard::OwnerOr | Guard::OwnerOrHidden => {
                assert!(description.to_lowercase().contains("owner or"), "{name}: {description}")
            }
        }
    }
}

#[actix_web::test]
async fn a_grant_revoked_between_two_requests_refuses_the_second_with_the_same_token() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    create_role_with(&state, &principal(&state, &admin.access).await, "auditor", &[Permission::UsersRead]).await;
    let auditor = signed_in_with_role(&app, &state, "auditor@example.com", "auditor").await;
    let list = || request(Method::GET, "/api/v1/users", &auditor.access, None);

    assert_eq!(send(&app, list()).await.status, StatusCode::OK);
    let revoke = request(Method::DELETE, "/api/v1/roles/auditor/permissions/users:read", &admin.access, None);
    assert_eq!(send(&app, revoke).await.status, StatusCode::NO_CONTENT);
    send(&app, list()).await.problem(403, "forbidden");

    let grant = request(Method::PUT, "/api/v1/roles/auditor/permissions/users:read", &admin.access, None);
    assert_eq!(send(&app, grant).await.status, StatusCode::NO_CONTENT);
    assert_eq!(send(&app, list()).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_role_change_takes_effect_on_the_next_request() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let user = signed_up(&app, "ada@example.com").await;
    let id = claims(&user.access)["sub"].as_str().unwrap().to_owned();
    let list = || request(Method::GET, "/api/v1/users", &user.access, None);
    let promote =
        |role: &str| request(Method::PATCH, &format!("/api/v1/users/{id}"), &admin.access, Some(json!({"role": role})));

    send(&app, list()).await.problem(403, "forbidden");
    assert_eq!(send(&app, promote("moderator")).await.status, StatusCode::OK);
    assert_eq!(send(&app, list()).await.status, StatusCode::OK);
    let mine = send(&app, request(Method::GET, "/api/v1/users/me/permissions", &user.access, None)).await;
    assert_eq!(
        mine.json(),
        json!({"role": "moderator", "permissions": ["ai:use", "analytics:read", "orders:read_all", "products:create", "reviews:moderate", "users:read"]})
    );
    assert_eq!(send(&app, promote("user")).await.status, StatusCode::OK);
    send(&app, list()).await.problem(403, "forbidden");
}

#[actix_web::test]
async fn a_caller_without_the_permission_is_refused_before_its_request_is_read() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let user = signed_up(&app, "ada@example.com").await;
    let cases = [
        request(Method::GET, "/api/v1/users?limit=0", &user.access, None),
        request(
            Method::PATCH,
            &format!("/api/v1/users/{}", uuid::Uuid::now_v7()),
            &user.access,
            Some(json!({"role": 1})),
        ),
        request(Method::PATCH, "/api/v1/users/not-a-uuid", &user.access, None),
        request(Method::POST, "/api/v1/roles", &user.access, Some(json!({"nom": "x"}))),
        request(Method::GET, "/api/v1/admin/audit?action=nope", &user.access, None),
    ];
    for req in cases {
        send(&app, req).await.problem(403, "forbidden");
    }
}
