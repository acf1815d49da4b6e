//! Catalogue test support: creating products, categories, likes and reviews over HTTP, and
//! reading a product object back into the domain's `Product` (for the reference order).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use storefront_domain::{CategoryId, CategoryRef, Product, ProductId, UserId};

/// The keys of a product object, exactly.
pub const PRODUCT_KEYS: [&str; 14] = [
    "id",
    "owner_id",
    "name",
    "description",
    "price_cents",
    "currency",
    "stock",
    "categories",
    "like_count",
    "review_count",
    "rating_avg",
    "liked_by_me",
    "created_at",
    "updated_at",
];

/// The sorted keys of a JSON object.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// The contract's product keys, sorted.
pub fn product_keys() -> Vec<String> {
    let mut keys: Vec<String> = PRODUCT_KEYS.iter().map(|k| (*k).to_owned()).collect();
    keys.sort();
    keys
}

/// A request, with a bearer token if given, and a JSON body if given.
pub fn call(method: Method, uri: &str, access: Option<&str>, body: Option<Value>) -> TestRequest {
    let mut req = TestRequest::default().method(method).uri(uri);
    if let Some(access) = access {
        req = req.insert_header(bearer(access));
    }
    match body {
        Some(body) => req.set_json(body),
        None => req,
    }
}

/// `GET uri`, anonymous or with a token.
pub async fn get<S, B>(app: &S, uri: &str, access: Option<&str>) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, call(Method::GET, uri, access, None)).await
}

/// The ids of a list's `items`.
pub fn item_ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
}

/// A new-product body.
pub fn new_product(name: &str, price_cents: i64, stock: i64) -> Value {
    json!({"name": name, "price_cents": price_cents, "stock": stock})
}

/// Creates a product as `access`; answers the product object.
pub async fn create_product<S, B>(app: &S, access: &str, body: Value) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = send(app, call(Method::POST, "/api/v1/products", Some(access), Some(body))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.json()
}

/// Creates a category as `access` (who holds `categories:manage`); answers the category.
pub async fn create_category<S, B>(app: &S, access: &str, name: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = send(app, call(Method::POST, "/api/v1/categories", Some(access), Some(json!({"name": name})))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.json()
}

/// Likes (`true`) or unlikes a product as `access`, expecting 204.
pub async fn set_like<S, B>(app: &S, access: &str, product_id: &str, liked: bool)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let method = if liked { Method::PUT } else { Method::DELETE };
    let reply = send(app, call(method, &format!("/api/v1/products/{product_id}/like"), Some(access), None)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
}

/// Reviews a product as `access`; answers the review.
pub async fn create_review<S, B>(app: &S, access: &str, product_id: &str, rating: i64) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let uri = format!("/api/v1/products/{product_id}/reviews");
    let reply = send(app, call(Method::POST, &uri, Some(access), Some(json!({"rating": rating})))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.json()
}

/// A review as its author got it, shown as anyone else is shown it: without `moderation`.
pub fn public(mut review: Value) -> Value {
    review.as_object_mut().unwrap().remove("moderation");
    review
}

/// A product as an anonymous caller reads it.
pub async fn product<S, B>(app: &S, product_id: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = get(app, &format!("/api/v1/products/{product_id}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()
}

/// The id (`sub`) behind an access token.
pub fn user_id(access: &str) -> String {
    claims(access)["sub"].as_str().unwrap().to_owned()
}

fn uuid(value: &Value) -> uuid::Uuid {
    value.as_str().unwrap().parse().unwrap()
}

/// A timestamp of a response.
pub fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// A product object read back into the domain's `Product`.
pub fn to_domain(p: &Value) -> Product {
    Product {
        id: ProductId(uuid(&p["id"])),
        owner_id: UserId(uuid(&p["owner_id"])),
        name: p["name"].as_str().unwrap().to_owned(),
        description: p["description"].as_str().unwrap().to_owned(),
        price_cents: p["price_cents"].as_i64().unwrap(),
        stock: p["stock"].as_i64().unwrap(),
        categories: p["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| CategoryRef {
                id: CategoryId(uuid(&c["id"])),
                name: c["name"].as_str().unwrap().to_owned(),
                slug: c["slug"].as_str().unwrap().to_owned(),
            })
            .collect(),
        like_count: p["like_count"].as_u64().unwrap(),
        review_count: p["review_count"].as_u64().unwrap(),
        rating_avg: p["rating_avg"].as_f64(),
        liked_by_me: p["liked_by_me"].as_bool().unwrap(),
        created_at: time(&p["created_at"]),
        updated_at: time(&p["updated_at"]),
    }
}
