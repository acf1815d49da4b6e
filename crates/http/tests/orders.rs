//! The "Orders" and "Administration" sections of the contract over HTTP, on the in-memory
//! store: placing (201, 401, 400, 413, 415, 422, 409 `insufficient_stock`), idempotency keys
//! (replay byte for byte, 422 `idempotency_key_reused`, 409 while in flight, per user),
//! listing, reading, cancelling and moving orders (200, 403, 404, 409 `invalid_transition`),
//! and the business statistics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog_support;
mod common;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{TestRequest, init_service};
use catalog_support::{call, create_product, create_review, get, keys, new_product, user_id};
use chrono::{Duration, Utc};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use storefront_app::AuthSettings;
use storefront_app::ports::{IdempotencyBegin, IdempotencyStore, OrderRepository, StoredResponse};
use storefront_domain::Permission;
use storefront_http::{AppState, build_app, idempotency_fingerprint};
use storefront_memory::MemoryStore;

/// The keys of an order object, sorted.
const ORDER_KEYS: [&str; 8] =
    ["created_at", "currency", "id", "items", "status", "total_cents", "updated_at", "user_id"];

/// `POST /api/v1/orders` with a raw JSON body and, if given, an `Idempotency-Key`.
fn order_request(access: &str, body: &str, key: Option<&str>) -> TestRequest {
    let mut req = TestRequest::post()
        .uri("/api/v1/orders")
        .insert_header(bearer(access))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body.to_owned());
    if let Some(key) = key {
        req = req.insert_header(("Idempotency-Key", key));
    }
    req
}

/// A body ordering `(product id, quantity)` lines.
fn lines(items: &[(&str, i64)]) -> String {
    let items: Vec<Value> = items.iter().map(|(id, q)| json!({"product_id": id, "quantity": q})).collect();
    json!({ "items": items }).to_string()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A seller with two products: a pen (250 cents, 10 in stock) and ink (1000 cents, 3).
struct Shop {
    seller: Tokens,
    pen: String,
    ink: String,
}

async fn shop<S, B>(app: &S) -> Shop
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let seller = signed_up(app, "seller@example.com").await;
    let pen = id(&create_product(app, &seller.access, new_product("Pen", 250, 10)).await);
    let ink = id(&create_product(app, &seller.access, new_product("Ink", 1000, 3)).await);
    Shop { seller, pen, ink }
}

async fn stock<S, B>(app: &S, product: &str) -> i64
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    get(app, &format!("/api/v1/products/{product}"), None).await.json()["stock"].as_i64().unwrap()
}

async fn placed<S, B>(app: &S, access: &str, items: &[(&str, i64)]) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = send(app, order_request(access, &lines(items), None)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.json()
}

async fn set_status<S, B>(app: &S, access: &str, order: &str, status: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, request(Method::PATCH, &format!("/api/v1/orders/{order}"), access, Some(json!({"status": status})))).await
}

async fn cancel<S, B>(app: &S, access: &str, order: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, request(Method::POST, &format!("/api/v1/orders/{order}/cancel"), access, None)).await
}

/// A caller holding exactly `permissions` (a custom role), logged in.
async fn holder<S, B>(app: &S, state: &AppState, admin: &Tokens, name: &str, permissions: &[Permission]) -> Tokens
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    create_role_with(state, &principal(state, &admin.access).await, name, permissions).await;
    signed_in_with_role(app, state, &format!("{name}@example.com"), name).await
}

#[actix_web::test]
async fn placing_an_order_answers_201_with_its_location_snapshots_and_server_computed_totals() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;

    let reply = send(&app, order_request(&buyer.access, &lines(&[(&shop.ink, 2), (&shop.pen, 3)]), None)).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let order = reply.json();
    assert_eq!(keys(&order), ORDER_KEYS);
    assert_eq!(reply.header("location").unwrap(), format!("/api/v1/orders/{}", id(&order)));
    assert_eq!(order["user_id"], user_id(&buyer.access));
    assert_eq!(order["status"], "pending");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["total_cents"], 2 * 1000 + 3 * 250);
    assert_eq!(
        order["items"],
        json!([
            {"product_id": shop.ink, "product_name": "Ink", "unit_price_cents": 1000, "quantity": 2, "line_total_cents": 2000},
            {"product_id": shop.pen, "product_name": "Pen", "unit_price_cents": 250, "quantity": 3, "line_total_cents": 750},
        ])
    );
    assert_eq!(order["created_at"], order["updated_at"]);
    assert_eq!((stock(&app, &shop.ink).await, stock(&app, &shop.pen).await), (1, 7));

    let read = get(&app, reply.header("location").unwrap(), Some(&buyer.access)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json(), order, "the Location reads the same order back");
}

#[actix_web::test]
async fn an_order_keeps_its_snapshot_when_the_product_changes_or_is_deleted() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let order = placed(&app, &buyer.access, &[(&shop.pen, 1), (&shop.ink, 1)]).await;

    let rename = json!({"name": "Fountain pen", "price_cents": 9999});
    let changed = send(
        &app,
        request(Method::PATCH, &format!("/api/v1/products/{}", shop.pen), &shop.seller.access, Some(rename)),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK);
    let deleted =
        send(&app, request(Method::DELETE, &format!("/api/v1/products/{}", shop.ink), &shop.seller.access, None)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let read = get(&app, &format!("/api/v1/orders/{}", id(&order)), Some(&buyer.access)).await;
    assert_eq!(read.json(), order);
}

#[actix_web::test]
async fn placing_an_order_needs_a_bearer_token() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let reply = send(&app, post_json("/api/v1/orders", json!({"items": []}))).await;
    reply.problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="storefront""#));
    let reply = send(&app, order_request("not-a-jwt", &lines(&[]), None)).await;
    reply.problem(401, "invalid_token");
    assert!(reply.header("www-authenticate").unwrap().contains(r#"error="invalid_token""#));
}

#[actix_web::test]
async fn invalid_order_requests_answer_422_naming_each_field_and_take_nothing() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let fifty_one: Vec<Value> = (0..51).map(|_| json!({"product_id": uuid::Uuid::now_v7(), "quantity": 1})).collect();
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("{}".into(), vec!["items"]),
        (r#"{"items": []}"#.into(), vec!["items"]),
        (json!({ "items": fifty_one }).to_string(), vec!["items"]),
        (lines(&[(&shop.pen, 0), (&shop.ink, 1001)]), vec!["items[0].quantity", "items[1].quantity"]),
        (lines(&[(&shop.pen, 1), (&shop.pen, 2)]), vec!["items[1].product_id"]),
        (lines(&[(&shop.pen, 1), (&unknown, 1)]), vec!["items[1].product_id"]),
        (r#"{"items": [{"product_id": "not-a-uuid", "quantity": 1}]}"#.into(), vec!["items[0].product_id"]),
        (json!({"items": [{"product_id": shop.pen, "quantity": "2"}]}).to_string(), vec!["items[0].quantity"]),
        (json!({"items": [{"product_id": shop.pen}]}).to_string(), vec!["items[0].quantity"]),
        // Prices and totals come from the server only: a client's are refused, never ignored.
        (
            json!({"items": [{"product_id": shop.pen, "quantity": 1, "unit_price_cents": 1}]}).to_string(),
            vec!["items[0].unit_price_cents"],
        ),
        (
            json!({"items": [{"product_id": shop.pen, "quantity": 1}], "total_cents": 1}).to_string(),
            vec!["total_cents"],
        ),
        ("[1]".into(), vec!["body"]),
    ];
    for (body, fields) in cases {
        let reply = send(&app, order_request(&buyer.access, &body, None)).await;
        assert_eq!(reply.fields(), fields, "{body}");
    }
    assert_eq!((stock(&app, &shop.pen).await, stock(&app, &shop.ink).await), (10, 3));
    let mine = get(&app, "/api/v1/orders", Some(&buyer.access)).await.json();
    assert_eq!(mine["total"], 0);
}

#[actix_web::test]
async fn bodies_that_are_not_json_of_the_right_type_and_size_answer_400_415_and_413() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    send(&app, order_request(&buyer.access, "{\"items\": [", None)).await.problem(400, "malformed_body");
    send(&app, order_request(&buyer.access, "", None)).await.problem(400, "malformed_body");
    let form = TestRequest::post()
        .uri("/api/v1/orders")
        .insert_header(bearer(&buyer.access))
        .insert_header((header::CONTENT_TYPE, "text/plain"))
        .set_payload("{}");
    send(&app, form).await.problem(415, "unsupported_media_type");
    let huge = format!("{{\"items\": [], \"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    send(&app, order_request(&buyer.access, &huge, None)).await.problem(413, "payload_too_large");
}

#[actix_web::test]
async fn short_lines_answer_409_insufficient_stock_naming_each_and_nothing_is_taken() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let third = id(&create_product(&app, &shop.seller.access, new_product("Paper", 5, 0)).await);

    let body = lines(&[(&shop.ink, 5), (&shop.pen, 10), (&third, 1)]);
    let reply = send(&app, order_request(&buyer.access, &body, None)).await;

    let problem = reply.problem(409, "insufficient_stock");
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{problem}");
    for (error, (field, product, requested, available)) in
        errors.iter().zip([("items[0].quantity", &shop.ink, 5, 3), ("items[2].quantity", &third, 1, 0)])
    {
        assert_eq!(error["field"], field);
        assert_eq!(error["product_id"], product.as_str());
        assert_eq!((error["requested"].as_i64(), error["available"].as_i64()), (Some(requested), Some(available)));
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!((stock(&app, &shop.ink).await, stock(&app, &shop.pen).await), (3, 10), "no line's stock was taken");
    assert_eq!(get(&app, "/api/v1/orders", Some(&buyer.access)).await.json()["total"], 0, "no order was written");
}

#[actix_web::test]
async fn a_repeat_with_the_same_key_and_body_replays_the_first_response_byte_for_byte_and_creates_nothing() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let body = lines(&[(&shop.pen, 2)]);

    let first = send(&app, order_request(&buyer.access, &body, Some("order-2026-12-01-a"))).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same body with its keys in another order and other whitespace is the same body.
    let reordered = json!({"items": [{"quantity": 2, "product_id": shop.pen}]}).to_string();
    let second = send(&app, order_request(&buyer.access, &format!(" {reordered} "), Some("order-2026-12-01-a"))).await;

    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.body, first.body, "the body byte for byte");
    assert_eq!(second.header("content-type"), Some("application/json"));
    assert_ne!(second.header("x-request-id"), first.header("x-request-id"), "the replay is another request");
    assert_eq!(stock(&app, &shop.pen).await, 8, "the stock was taken once");
    assert_eq!(get(&app, "/api/v1/orders", Some(&buyer.access)).await.json()["total"], 1);
}

#[actix_web::test]
async fn a_first_409_is_replayed_with_its_request_id_even_once_the_stock_is_there() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let body = lines(&[(&shop.ink, 4)]);
    let first = send(&app, order_request(&buyer.access, &body, Some("k-409"))).await;
    let problem = first.problem(409, "insufficient_stock");

    let restock = json!({"stock": 100});
    let path = format!("/api/v1/products/{}", shop.ink);
    assert_eq!(
        send(&app, request(Method::PATCH, &path, &shop.seller.access, Some(restock))).await.status,
        StatusCode::OK
    );
    let again = send(&app, order_request(&buyer.access, &body, Some("k-409"))).await;

    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.header("content-type"), Some("application/problem+json"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.json()["request_id"], problem["request_id"], "the first request's id, as stored");
    assert_eq!(stock(&app, &shop.ink).await, 100, "nothing was ordered");
}

#[actix_web::test]
async fn the_same_key_with_another_body_answers_422_idempotency_key_reused() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let first = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 1)]), Some("k"))).await;
    assert_eq!(first.status, StatusCode::CREATED);

    let other = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 2)]), Some("k"))).await;

    other.problem(422, "idempotency_key_reused");
    assert_eq!(other.header("idempotent-replayed"), None);
    assert_eq!(stock(&app, &shop.pen).await, 9);
}

#[actix_web::test]
async fn a_422_is_not_stored_so_a_corrected_request_runs_under_the_same_key() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let invalid = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 0)]), Some("k"))).await;
    assert_eq!(invalid.fields(), vec!["items[0].quantity"]);
    let again = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 0)]), Some("k"))).await;
    assert_eq!(again.header("idempotent-replayed"), None, "a 422 stores nothing to replay");

    let corrected = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 1)]), Some("k"))).await;
    assert_eq!(corrected.status, StatusCode::CREATED, "{:?}", corrected.body);
}

#[actix_web::test]
async fn malformed_idempotency_keys_answer_422_and_take_nothing() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let too_long = "k".repeat(256);
    for key in ["", too_long.as_str(), "tab\there"] {
        let reply = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 1)]), Some(key))).await;
        assert_eq!(reply.fields(), vec!["Idempotency-Key"], "{key:?}");
    }
    let non_ascii = order_request(&buyer.access, &lines(&[(&shop.pen, 1)]), None)
        .insert_header(("Idempotency-Key", header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
    assert_eq!(send(&app, non_ascii).await.fields(), vec!["Idempotency-Key"]);
    let longest = "k".repeat(255);
    let ok = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 1)]), Some(&longest))).await;
    assert_eq!(ok.status, StatusCode::CREATED, "255 printable characters are a key");
    assert_eq!(stock(&app, &shop.pen).await, 9);
}

#[actix_web::test]
async fn idempotency_keys_are_per_user() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let ada = signed_up(&app, "ada@example.com").await;
    let bob = signed_up(&app, "bob@example.com").await;
    let body = lines(&[(&shop.pen, 1)]);
    let first = send(&app, order_request(&ada.access, &body, Some("shared-key"))).await;
    let theirs = send(&app, order_request(&bob.access, &lines(&[(&shop.pen, 3)]), Some("shared-key"))).await;
    assert_eq!((first.status, theirs.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(theirs.header("idempotent-replayed"), None);
    assert_eq!(theirs.json()["user_id"], user_id(&bob.access));
    assert_eq!(stock(&app, &shop.pen).await, 6);
}

#[actix_web::test]
async fn a_repeat_while_the_first_request_runs_answers_409_conflict() {
    let store = MemoryStore::new();
    let state = state_on(store.clone(), AuthSettings::default());
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let body = lines(&[(&shop.pen, 1)]);
    let caller = principal(&state, &buyer.access).await;

    // The key's first request, claimed and still running (its response not stored yet).
    let fingerprint = idempotency_fingerprint(body.as_bytes());
    let (retention, abandon_after) = (Duration::hours(24), Duration::minutes(5));
    let claimed =
        IdempotencyStore::begin(&store, caller.user.id, "slow", &fingerprint, Utc::now(), retention, abandon_after)
            .await
            .unwrap();
    assert_eq!(claimed, IdempotencyBegin::Fresh);

    let repeat = send(&app, order_request(&buyer.access, &body, Some("slow"))).await;
    repeat.problem(409, "conflict");
    let other_body = send(&app, order_request(&buyer.access, &lines(&[(&shop.pen, 2)]), Some("slow"))).await;
    other_body.problem(422, "idempotency_key_reused");

    // The first request ends: its response stored in its unit of work.
    let mut unit = OrderRepository::begin(&store).await.unwrap();
    let first = StoredResponse { status: 201, location: None, body: b"{}".to_vec() };
    unit.complete_key(caller.user.id, "slow", &first, Utc::now()).await.unwrap();
    unit.commit().await.unwrap();
    let replayed = send(&app, order_request(&buyer.access, &body, Some("slow"))).await;
    assert_eq!((replayed.status, replayed.body.as_ref()), (StatusCode::CREATED, b"{}".as_ref()));
    assert_eq!(stock(&app, &shop.pen).await, 10, "the repeats took nothing");
}

#[actix_web::test]
async fn the_listing_shows_the_callers_orders_newest_first_filtered_by_status() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let admin = signed_in_admin(&app, &state).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let other = signed_up(&app, "other@example.com").await;
    let first = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    let second = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    let third = placed(&app, &buyer.access, &[(&shop.ink, 1)]).await;
    placed(&app, &other.access, &[(&shop.pen, 1)]).await;
    assert_eq!(set_status(&app, &admin.access, &id(&second), "paid").await.status, StatusCode::OK);

    let mine = get(&app, "/api/v1/orders", Some(&buyer.access)).await;
    assert_eq!(mine.status, StatusCode::OK);
    let mine = mine.json();
    assert_eq!((mine["total"].as_i64(), mine["limit"].as_i64(), mine["offset"].as_i64()), (Some(3), Some(20), Some(0)));
    let ids: Vec<String> = mine["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![id(&third), id(&second), id(&first)]);

    let paid = get(&app, "/api/v1/orders?status=paid", Some(&buyer.access)).await.json();
    assert_eq!(paid["items"].as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![id(&second)]);
    let page = get(&app, "/api/v1/orders?limit=1&offset=1", Some(&buyer.access)).await.json();
    assert_eq!((page["total"].as_i64(), page["items"][0]["id"].as_str()), (Some(3), Some(id(&second).as_str())));
    let scope_mine = get(&app, "/api/v1/orders?scope=mine", Some(&buyer.access)).await.json();
    assert_eq!(scope_mine["total"], 3);
}

#[actix_web::test]
async fn everyones_orders_need_orders_read_all() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let other = signed_up(&app, "other@example.com").await;
    placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    let theirs = placed(&app, &other.access, &[(&shop.pen, 1)]).await;
    set_status(&app, &signed_in_admin(&app, &state).await.access, &id(&theirs), "paid").await;
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;

    get(&app, "/api/v1/orders?scope=all", Some(&buyer.access)).await.problem(403, "forbidden");
    let all = get(&app, "/api/v1/orders?scope=all", Some(&moderator.access)).await.json();
    assert_eq!(all["total"], 2);
    let paid = get(&app, "/api/v1/orders?scope=all&status=paid", Some(&moderator.access)).await.json();
    assert_eq!(paid["items"].as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![id(&theirs)]);
    let own = get(&app, "/api/v1/orders", Some(&moderator.access)).await.json();
    assert_eq!(own["total"], 0, "without scope=all only one's own");
}

#[actix_web::test]
async fn listing_parameters_out_of_range_answer_422() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    for (query, field) in [
        ("status=lost", "status"),
        ("scope=everyone", "scope"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
    ] {
        let reply = get(&app, &format!("/api/v1/orders?{query}"), Some(&buyer.access)).await;
        assert_eq!(reply.fields(), vec![field], "{query}");
    }
    get(&app, "/api/v1/orders", None).await.problem(401, "unauthorized");
}

#[actix_web::test]
async fn an_order_is_read_by_its_buyer_and_orders_read_all_and_hidden_from_anyone_else() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let stranger = signed_up(&app, "stranger@example.com").await;
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;
    let order = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    let path = format!("/api/v1/orders/{}", id(&order));

    assert_eq!(get(&app, &path, Some(&buyer.access)).await.json(), order);
    assert_eq!(get(&app, &path, Some(&moderator.access)).await.json(), order);
    get(&app, &path, Some(&stranger.access)).await.problem(404, "not_found");
    get(&app, &path, Some(&shop.seller.access)).await.problem(404, "not_found");
    get(&app, &format!("/api/v1/orders/{}", uuid::Uuid::now_v7()), Some(&moderator.access))
        .await
        .problem(404, "not_found");
    get(&app, "/api/v1/orders/not-a-uuid", Some(&buyer.access)).await.problem(404, "not_found");
    get(&app, &path, None).await.problem(401, "unauthorized");
}

#[actix_web::test]
async fn the_buyer_cancels_a_pending_or_paid_order_and_gets_the_stock_back() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let admin = signed_in_admin(&app, &state).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let pending = placed(&app, &buyer.access, &[(&shop.pen, 2), (&shop.ink, 1)]).await;
    let paid = placed(&app, &buyer.access, &[(&shop.pen, 3)]).await;
    set_status(&app, &admin.access, &id(&paid), "paid").await;
    assert_eq!((stock(&app, &shop.pen).await, stock(&app, &shop.ink).await), (5, 2));

    let cancelled = cancel(&app, &buyer.access, &id(&pending)).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    let cancelled = cancelled.json();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["items"], pending["items"]);
    assert_eq!((stock(&app, &shop.pen).await, stock(&app, &shop.ink).await), (7, 3));
    assert_eq!(cancel(&app, &buyer.access, &id(&paid)).await.json()["status"], "cancelled");
    assert_eq!(stock(&app, &shop.pen).await, 10);

    cancel(&app, &buyer.access, &id(&pending)).await.problem(409, "invalid_transition");
    assert_eq!(stock(&app, &shop.pen).await, 10, "a second cancellation gives nothing back");
}

#[actix_web::test]
async fn an_order_past_paid_cannot_be_cancelled() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let admin = signed_in_admin(&app, &state).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let order = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    for status in ["paid", "shipped"] {
        assert_eq!(set_status(&app, &admin.access, &id(&order), status).await.status, StatusCode::OK);
    }
    cancel(&app, &buyer.access, &id(&order)).await.problem(409, "invalid_transition");
    cancel(&app, &admin.access, &id(&order)).await.problem(409, "invalid_transition");
    assert_eq!(stock(&app, &shop.pen).await, 9);
}

#[actix_web::test]
async fn cancelling_is_for_the_buyer_and_orders_manage_readers_get_403_and_others_404() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let admin = signed_in_admin(&app, &state).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let stranger = signed_up(&app, "stranger@example.com").await;
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;
    let manager = holder(&app, &state, &admin, "fulfilment", &[Permission::OrdersManage]).await;
    let order = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;

    cancel(&app, &stranger.access, &id(&order)).await.problem(404, "not_found");
    cancel(&app, &moderator.access, &id(&order)).await.problem(403, "forbidden");
    cancel(&app, &buyer.access, &uuid::Uuid::now_v7().to_string()).await.problem(404, "not_found");
    send(&app, TestRequest::post().uri(&format!("/api/v1/orders/{}/cancel", id(&order))))
        .await
        .problem(401, "unauthorized");
    assert_eq!(stock(&app, &shop.pen).await, 9);

    let cancelled = cancel(&app, &manager.access, &id(&order)).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(stock(&app, &shop.pen).await, 10);
}

#[actix_web::test]
async fn orders_manage_moves_an_order_along_its_life_cycle_and_nothing_else() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let admin = signed_in_admin(&app, &state).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let order = placed(&app, &buyer.access, &[(&shop.pen, 4)]).await;
    let order_id = id(&order);

    set_status(&app, &admin.access, &order_id, "shipped").await.problem(409, "invalid_transition");
    set_status(&app, &admin.access, &order_id, "pending").await.problem(409, "invalid_transition");
    let mut updated_at = order["updated_at"].as_str().unwrap().to_owned();
    for status in ["paid", "shipped", "delivered"] {
        let moved = set_status(&app, &admin.access, &order_id, status).await;
        assert_eq!(moved.status, StatusCode::OK, "{status}: {:?}", moved.body);
        let moved = moved.json();
        assert_eq!(moved["status"], status);
        assert!(moved["updated_at"].as_str().unwrap() >= updated_at.as_str());
        updated_at = moved["updated_at"].as_str().unwrap().to_owned();
    }
    for status in ["cancelled", "paid", "pending", "shipped"] {
        set_status(&app, &admin.access, &order_id, status).await.problem(409, "invalid_transition");
    }
    assert_eq!(stock(&app, &shop.pen).await, 6, "a delivered order keeps its units");

    let fresh = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    assert_eq!(set_status(&app, &admin.access, &id(&fresh), "cancelled").await.json()["status"], "cancelled");
    assert_eq!(stock(&app, &shop.pen).await, 6, "a manager's cancellation gives the stock back too");
}

#[actix_web::test]
async fn status_changes_are_checked_for_permission_shape_and_existence() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let admin = signed_in_admin(&app, &state).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let order = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    let path = format!("/api/v1/orders/{}", id(&order));

    set_status(&app, &buyer.access, &id(&order), "paid").await.problem(403, "forbidden");
    send(&app, call(Method::PATCH, &path, None, Some(json!({"status": "paid"})))).await.problem(401, "unauthorized");
    assert_eq!(set_status(&app, &admin.access, &id(&order), "lost").await.fields(), vec!["status"]);
    let unknown_field =
        send(&app, request(Method::PATCH, &path, &admin.access, Some(json!({"status": "paid", "total_cents": 0}))))
            .await;
    assert_eq!(unknown_field.fields(), vec!["total_cents"]);
    assert_eq!(
        send(&app, request(Method::PATCH, &path, &admin.access, Some(json!({})))).await.fields(),
        vec!["status"]
    );
    set_status(&app, &admin.access, &uuid::Uuid::now_v7().to_string(), "paid").await.problem(404, "not_found");
    let read = get(&app, &path, Some(&admin.access)).await.json();
    assert_eq!(read["status"], "pending", "nothing changed");
}

#[actix_web::test]
async fn unsupported_methods_on_orders_answer_405_with_allow() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let some = uuid::Uuid::now_v7();
    for (method, uri, allow) in [
        (Method::DELETE, format!("/api/v1/orders/{some}"), "GET, HEAD, PATCH"),
        (Method::PUT, "/api/v1/orders".to_owned(), "GET, HEAD, POST"),
        (Method::GET, format!("/api/v1/orders/{some}/cancel"), "POST"),
        (Method::POST, "/api/v1/admin/stats".to_owned(), "GET, HEAD"),
    ] {
        let reply = send(&app, request(method.clone(), &uri, &buyer.access, None)).await;
        reply.problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {uri}");
    }
}

#[actix_web::test]
async fn a_deleted_buyers_orders_stay_without_a_user_id() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let order = placed(&app, &buyer.access, &[(&shop.pen, 2)]).await;

    assert_eq!(
        send(&app, request(Method::DELETE, "/api/v1/users/me", &buyer.access, None)).await.status,
        StatusCode::NO_CONTENT
    );

    let kept = get(&app, &format!("/api/v1/orders/{}", id(&order)), Some(&moderator.access)).await.json();
    assert_eq!(kept["user_id"], Value::Null);
    assert_eq!(kept["items"], order["items"]);
    assert_eq!(stock(&app, &shop.pen).await, 8);
}

#[actix_web::test]
async fn a_review_is_a_verified_purchase_while_its_author_has_a_non_cancelled_order() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let shop = shop(&app).await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let review = create_review(&app, &buyer.access, &shop.pen, 5).await;
    assert_eq!(review["verified_purchase"], false);

    let order = placed(&app, &buyer.access, &[(&shop.pen, 1)]).await;
    let reviews = get(&app, &format!("/api/v1/products/{}/reviews", shop.pen), None).await.json();
    assert_eq!(reviews["items"][0]["verified_purchase"], true);
    cancel(&app, &buyer.access, &id(&order)).await;
    let read = get(&app, &format!("/api/v1/reviews/{}", id(&review)), None).await.json();
    assert_eq!(read["verified_purchase"], false);

    placed(&app, &buyer.access, &[(&shop.ink, 1)]).await;
    let ink_review = create_review(&app, &buyer.access, &shop.ink, 4).await;
    assert_eq!(ink_review["verified_purchase"], true);
}

/// The statistics as the test computes them from what it did.
#[derive(Default)]
struct Reference {
    by_status: BTreeMap<&'static str, i64>,
    revenue: i64,
    units: i64,
    sold: BTreeMap<String, (i64, i64)>,
}

#[actix_web::test]
async fn the_statistics_agree_with_a_reference_computed_by_the_test() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let prices = [(120, 40), (990, 6), (45, 7), (5000, 2), (300, 30)];
    let mut products = Vec::new();
    for (i, (price, stock)) in prices.iter().enumerate() {
        products.push(id(&create_product(&app, &seller.access, new_product(&format!("P{i}"), *price, *stock)).await));
    }
    let plan: [(&[(usize, i64)], &str); 7] = [
        (&[(0, 3), (1, 1)], "pending"),
        (&[(0, 5)], "paid"),
        (&[(1, 2), (2, 1)], "shipped"),
        (&[(3, 2)], "delivered"),
        (&[(4, 10), (0, 1)], "cancelled"),
        (&[(2, 3)], "paid"),
        (&[(4, 4)], "delivered"),
    ];
    let mut reference = Reference::default();
    let path: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("pending", &[][..]),
        ("paid", &["paid"][..]),
        ("shipped", &["paid", "shipped"][..]),
        ("delivered", &["paid", "shipped", "delivered"][..]),
        ("cancelled", &["cancelled"][..]),
    ]);
    let mut stock: Vec<i64> = prices.iter().map(|p| p.1).collect();
    for (items, status) in plan {
        let order_lines: Vec<(&str, i64)> = items.iter().map(|&(p, q)| (products[p].as_str(), q)).collect();
        let order = placed(&app, &buyer.access, &order_lines).await;
        for step in path[status] {
            assert_eq!(set_status(&app, &admin.access, &id(&order), step).await.status, StatusCode::OK);
        }
        *reference.by_status.entry(status).or_default() += 1;
        for &(p, q) in items {
            if status != "cancelled" {
                stock[p] -= q;
            }
            if ["paid", "shipped", "delivered"].contains(&status) {
                reference.revenue += prices[p].0 * q;
                reference.units += q;
                let entry = reference.sold.entry(products[p].clone()).or_default();
                entry.0 += q;
                entry.1 += prices[p].0 * q;
            }
        }
    }

    let reply = get(&app, "/api/v1/admin/stats", Some(&admin.access)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let stats = reply.json();
    assert_eq!(
        keys(&stats),
        [
            "low_stock",
            "orders_by_status",
            "products_total",
            "revenue_cents",
            "top_products",
            "units_sold",
            "users_new_7d",
            "users_total"
        ]
    );
    assert_eq!((stats["users_total"].as_i64(), stats["users_new_7d"].as_i64()), (Some(3), Some(3)));
    assert_eq!(stats["products_total"], 5);
    let by_status: BTreeMap<String, i64> = ["pending", "paid", "shipped", "delivered", "cancelled"]
        .iter()
        .map(|s| ((*s).to_owned(), reference.by_status.get(s).copied().unwrap_or(0)))
        .collect();
    assert_eq!(stats["orders_by_status"], json!(by_status));
    assert_eq!(
        (stats["revenue_cents"].as_i64(), stats["units_sold"].as_i64()),
        (Some(reference.revenue), Some(reference.units))
    );
    let mut top: Vec<(String, i64, i64)> = reference.sold.into_iter().map(|(p, (u, r))| (p, u, r)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    let got: Vec<(String, i64, i64)> = stats["top_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["product_id"].as_str().unwrap().to_owned(),
                t["units_sold"].as_i64().unwrap(),
                t["revenue_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, top);
    let mut low: Vec<(i64, String, String)> = stock
        .iter()
        .enumerate()
        .filter(|(_, s)| **s <= 5)
        .map(|(i, s)| (*s, format!("P{i}"), products[i].clone()))
        .collect();
    low.sort();
    let got_low: Vec<(i64, String, String)> = stats["low_stock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["stock"].as_i64().unwrap(),
                l["name"].as_str().unwrap().to_owned(),
                l["product_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got_low, low);

    get(&app, "/api/v1/admin/stats", Some(&buyer.access)).await.problem(403, "forbidden");
    get(&app, "/api/v1/admin/stats", None).await.problem(401, "unauthorized");
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;
    assert_eq!(get(&app, "/api/v1/admin/stats", Some(&moderator.access)).await.status, StatusCode::OK);
}
