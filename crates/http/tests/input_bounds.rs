//! Bounded and clean inputs (API v1.1): a search text of at most 200 characters, product and
//! category names without control characters, free text (descriptions, review bodies, role
//! descriptions) and search terms without the control characters PostgreSQL cannot store or
//! a terminal would obey, and integer fields that take `5.0` as 5 but refuse `5.5`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog_support;
mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::init_service;
use catalog_support::*;
use common::*;
use serde_json::{Value, json};
use storefront_http::build_app;

#[actix_web::test]
async fn a_search_text_longer_than_200_characters_answers_422_naming_q() {
    let app = init_service(build_app(state())).await;
    let long = "é".repeat(201);
    let reply = get(&app, &format!("/api/v1/products?q={}", urlencode(&long)), None).await;
    assert_eq!(reply.fields(), ["q"]);
    // 200 characters (400 bytes of UTF-8) are a search like any other.
    let reply = get(&app, &format!("/api/v1/products?q={}", urlencode(&"é".repeat(200))), None).await;
    assert_eq!(reply.status, StatusCode::OK);
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[actix_web::test]
async fn product_names_with_control_characters_answer_422_naming_name() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let create = |name: &str| {
        call(
            Method::POST,
            "/api/v1/products",
            Some(&seller.access),
            Some(json!({"name": name, "price_cents": 100, "stock": 1})),
        )
    };
    for bad in ["Desk\nFree shipping!", "Desk\u{0}", "Desk\u{1b}[2J", "Desk\u{7f}"] {
        assert_eq!(send(&app, create(bad)).await.fields(), ["name"], "{bad:?}");
    }
    let product = create_product(&app, &seller.access, json!({"name": "Desk", "price_cents": 100, "stock": 1})).await;
    let uri = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let patch = call(Method::PATCH, &uri, Some(&seller.access), Some(json!({"name": "Desk\r\nX-Evil: 1"})));
    assert_eq!(send(&app, patch).await.fields(), ["name"]);
}

#[actix_web::test]
async fn free_text_and_search_terms_with_control_characters_answer_422_naming_the_field() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let product = |description: &str| {
        let body = json!({"name": "Desk", "description": description, "price_cents": 100, "stock": 1});
        call(Method::POST, "/api/v1/products", Some(&seller.access), Some(body))
    };
    // NUL cannot be stored in PostgreSQL's text (it answered 500 there); escapes and C1 controls
    // have no place in text a mail or a terminal shows.
    for bad in ["Oak\u{0}", "Oak\u{1b}[2J", "Oak\u{85}"] {
        assert_eq!(send(&app, product(bad)).await.fields(), ["description"], "{bad:?}");
    }
    // Line breaks and tabs are what multi-line text is made of.
    let reply = send(&app, product("Solid oak.\r\n\tOiled.")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let id = reply.json()["id"].as_str().unwrap().to_owned();

    let review = |body: &str| {
        let uri = format!("/api/v1/products/{id}/reviews");
        call(Method::POST, &uri, Some(&buyer.access), Some(json!({"rating": 4, "body": body})))
    };
    assert_eq!(send(&app, review("Good\u{0}")).await.fields(), ["body"]);
    assert_eq!(send(&app, review("Good.\nSturdy.")).await.status, StatusCode::CREATED);

    let role = call(
        Method::POST,
        "/api/v1/roles",
        Some(&admin.access),
        Some(json!({"name": "editor", "description": "Edits\u{0}"})),
    );
    assert_eq!(send(&app, role).await.fields(), ["description"]);

    for query in ["/api/v1/products?q=oak%00", "/api/v1/products?q=oak%0Aoak"] {
        assert_eq!(get(&app, query, None).await.fields(), ["q"], "{query}");
    }
    assert_eq!(get(&app, "/api/v1/users?q=ada%00", Some(&admin.access)).await.fields(), ["q"]);
}

#[actix_web::test]
async fn category_names_with_control_characters_answer_422_naming_name() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let create =
        |name: &str| call(Method::POST, "/api/v1/categories", Some(&admin.access), Some(json!({"name": name})));
    assert_eq!(send(&app, create("Desks\u{0}")).await.fields(), ["name"]);
    assert_eq!(send(&app, create("Desks\u{1b}[31m")).await.fields(), ["name"]);
    let category = create_category(&app, &admin.access, "Desks").await;
    let uri = format!("/api/v1/categories/{}", category["id"].as_str().unwrap());
    let patch = call(Method::PATCH, &uri, Some(&admin.access), Some(json!({"name": "Desks\nChairs"})));
    assert_eq!(send(&app, patch).await.fields(), ["name"]);
}

#[actix_web::test]
async fn integer_fields_take_a_zero_fraction_and_refuse_any_other() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let buyer = signed_up(&app, "buyer@example.com").await;
    let create = |body: Value| call(Method::POST, "/api/v1/products", Some(&seller.access), Some(body));

    let reply = send(&app, create(json!({"name": "Mug", "price_cents": 900.0, "stock": 5.0}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let product = reply.json();
    assert_eq!((product["price_cents"].clone(), product["stock"].clone()), (json!(900), json!(5)));
    let refused = send(&app, create(json!({"name": "Mug", "price_cents": 900.5, "stock": 5.5}))).await;
    let mut fields = refused.fields();
    fields.sort();
    assert_eq!(fields, ["price_cents", "stock"]);

    let uri = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let patch = |body: Value| call(Method::PATCH, &uri, Some(&seller.access), Some(body));
    assert_eq!(send(&app, patch(json!({"stock": 7.0}))).await.json()["stock"], 7);
    assert_eq!(send(&app, patch(json!({"stock": 7.25}))).await.fields(), ["stock"]);

    let reviews = format!("{uri}/reviews");
    let review = |rating: Value| call(Method::POST, &reviews, Some(&buyer.access), Some(json!({"rating": rating})));
    assert_eq!(send(&app, review(json!(4.5))).await.fields(), ["rating"]);
    let reply = send(&app, review(json!(4.0))).await;
    assert_eq!((reply.status, reply.json()["rating"].clone()), (StatusCode::CREATED, json!(4)));

    let order = |quantity: Value| {
        let items = json!([{"product_id": product["id"], "quantity": quantity}]);
        call(Method::POST, "/api/v1/orders", Some(&buyer.access), Some(json!({"items": items})))
    };
    assert_eq!(send(&app, order(json!(1.5))).await.fields(), ["items[0].quantity"]);
    let reply = send(&app, order(json!(2.0))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.json()["items"][0]["quantity"], 2);
}
