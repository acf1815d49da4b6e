//! Cursors and conditional reads of the catalogue over HTTP: a walk by `next_cursor`
//! returns the one big listing, `offset` is null on cursor pages, a cursor with `offset`,
//! malformed, altered or foreign answers 422 naming `cursor`; `ETag`, `If-None-Match`
//! (one tag, a list, `*`) with 304 and no body, `Vary: Authorization` and `Cache-Control`
//! on the product, the product list and the categories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog_support;
mod common;

use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::test::init_service;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_support::*;
use common::*;
use serde_json::{Value, json};
use storefront_http::{AppState, HttpConfig, build_app};

/// Every page of `query` walked by `next_cursor`, `limit` at a time, checking the envelope.
async fn walk<S, B>(app: &S, query: &str, limit: u32) -> Vec<String>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    for _ in 0..50 {
        let uri = match &cursor {
            None => format!("/api/v1/products?{query}&limit={limit}"),
            Some(cursor) => format!("/api/v1/products?{query}&limit={limit}&cursor={cursor}"),
        };
        let reply = get(app, &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
        let page = reply.json();
        assert_eq!(keys(&page), ["items", "limit", "next_cursor", "offset", "total"]);
        assert_eq!(*total.get_or_insert(page["total"].clone()), page["total"], "the total on every page");
        assert_eq!(page["offset"], if cursor.is_some() { Value::Null } else { json!(0) }, "{uri}");
        ids.extend(item_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("the walk did not end");
}

async fn seller_with_products<S, B>(app: &S, n: usize) -> Tokens
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let seller = signed_up(app, "seller@example.com").await;
    for i in 0..n {
        let name = ["Mug", "Kettle", "mug", "Teapot"][i % 4];
        create_product(app, &seller.access, new_product(name, [100, 250, 100][i % 3], (i % 2) as i64)).await;
    }
    seller
}

#[actix_web::test]
async fn a_walk_by_next_cursor_returns_the_one_big_listing_for_every_sort_and_filter() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    seller_with_products(&app, 11).await;
    for sort in ["-created_at", "created_at", "name", "-name", "price", "-price", "likes", "-rating"] {
        for filter in ["", "in_stock=true", "q=mug"] {
            let query = format!("sort={sort}&{filter}");
            let everything = get(&app, &format!("/api/v1/products?{query}&limit=100"), None).await.json();
            assert_eq!(everything["next_cursor"], Value::Null, "one page holds all: no next page");
            for limit in [1, 4] {
                assert_eq!(walk(&app, &query, limit).await, item_ids(&everything), "{query}, {limit} a page");
            }
        }
    }
    // Offset pages carry a cursor too: the one after their last item.
    let first = get(&app, "/api/v1/products?sort=name&limit=3&offset=3", None).await.json();
    let next_uri = format!("/api/v1/products?sort=name&limit=3&cursor={}", first["next_cursor"].as_str().unwrap());
    let next = get(&app, &next_uri, None).await.json();
    let by_offset = get(&app, "/api/v1/products?sort=name&limit=3&offset=6", None).await.json();
    assert_eq!(item_ids(&next), item_ids(&by_offset));
}

#[actix_web::test]
async fn a_walk_by_cursor_neither_repeats_nor_skips_when_products_are_created_meanwhile() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = seller_with_products(&app, 9).await;
    let before = item_ids(&get(&app, "/api/v1/products?limit=100", None).await.json());
    let mut walked = Vec::new();
    let mut uri = "/api/v1/products?limit=2".to_owned();
    loop {
        let page = get(&app, &uri, None).await.json();
        walked.extend(item_ids(&page));
        // Newest first: what is created now comes before the walk's position.
        create_product(&app, &seller.access, new_product("Late", 1, 1)).await;
        match page["next_cursor"].as_str() {
            Some(next) => uri = format!("/api/v1/products?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(walked, before, "by offset, every creation would have shifted a product onto the next page");
}

#[actix_web::test]
async fn a_cursor_with_offset_or_malformed_altered_or_foreign_answers_422_naming_cursor() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    seller_with_products(&app, 5).await;
    let cursor = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move {
            let page = get(app, &format!("/api/v1/products?{query}&limit=1"), None).await.json();
            page["next_cursor"].as_str().unwrap().to_owned()
        }
    };
    let by_name = cursor("sort=name").await;
    assert_eq!(get(&app, &format!("/api/v1/products?sort=name&cursor={by_name}"), None).await.status, StatusCode::OK);

    let with_offset = get(&app, &format!("/api/v1/products?sort=name&cursor={by_name}&offset=0"), None).await;
    assert!(with_offset.fields().contains(&"cursor".to_owned()), "{:?}", with_offset.body);
    with_offset.problem(422, "validation_failed");

    let mut altered = URL_SAFE_NO_PAD.decode(&by_name).unwrap();
    altered[3] ^= 1;
    let altered = URL_SAFE_NO_PAD.encode(altered);
    let in_stock = cursor("sort=name&in_stock=true").await;
    for (query, why) in [
        (format!("sort=name&cursor={altered}"), "altered"),
        (format!("sort=-name&cursor={by_name}"), "another sort"),
        (format!("cursor={by_name}"), "another (the default) sort"),
        (format!("sort=name&q=mug&cursor={by_name}"), "another filter"),
        (format!("sort=name&cursor={in_stock}"), "made with a filter, used without"),
        ("sort=name&cursor=not-a-cursor".to_owned(), "malformed"),
        ("sort=name&cursor=%F0%9F%98%80".to_owned(), "not base64url"),
        ("sort=name&cursor=".to_owned(), "empty"),
    ] {
        let reply = get(&app, &format!("/api/v1/products?{query}"), None).await;
        assert_eq!(reply.fields(), ["cursor"], "{why}");
        reply.problem(422, "validation_failed");
    }
}

/// The app over a state whose anonymous catalogue reads may be cached for `max_age` seconds.
fn state_caching(max_age: u32) -> AppState {
    let state = state();
    AppState { config: HttpConfig { catalog_cache_max_age_secs: max_age, ..state.config.clone() }, ..state }
}

/// `GET uri` with `If-None-Match: tags`.
async fn get_if_none_match<S, B>(app: &S, uri: &str, access: Option<&str>, tags: &str) -> Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    send(app, call(Method::GET, uri, access, None).insert_header((header::IF_NONE_MATCH, tags))).await
}

#[actix_web::test]
async fn catalogue_reads_carry_an_etag_and_answer_a_matching_if_none_match_with_304_and_no_body() {
    let state = state_caching(60);
    let app = init_service(build_app(state.clone())).await;
    let seller = seller_with_products(&app, 3).await;
    let admin = signed_in_admin(&app, &state).await;
    create_category(&app, &admin.access, "Kitchen").await;
    let id = item_ids(&get(&app, "/api/v1/products", None).await.json())[0].clone();
    let product_uri = format!("/api/v1/products/{id}");

    for (uri, personal) in
        [(product_uri.as_str(), true), ("/api/v1/products?sort=name", true), ("/api/v1/categories", false)]
    {
        let first = get(&app, uri, None).await;
        assert_eq!(first.status, StatusCode::OK, "{uri}");
        let tag = first.header("etag").unwrap().to_owned();
        assert!(tag.starts_with("W/\"") && tag.ends_with('"'), "{uri}: {tag}");
        assert_eq!(first.header("cache-control"), Some("public, max-age=60"), "{uri}");
        assert_eq!(first.header("vary"), personal.then_some("Authorization"), "{uri}");
        assert_eq!(get(&app, uri, None).await.header("etag"), Some(tag.as_str()), "{uri}: the same body, the same tag");

        let strong = tag.trim_start_matches("W/").to_owned();
        for tags in [tag.clone(), strong, format!("\"stale\", {tag}"), "*".to_owned()] {
            let reply = get_if_none_match(&app, uri, None, &tags).await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{uri}: {tags}");
            assert!(reply.body.is_empty(), "{uri}: no body on 304");
            assert_eq!(reply.header("etag"), Some(tag.as_str()), "{uri}");
            assert_eq!(reply.header("cache-control"), Some("public, max-age=60"), "{uri}");
            assert_eq!(reply.header("vary"), personal.then_some("Authorization"), "{uri}");
        }
        let stale = get_if_none_match(&app, uri, None, "W/\"0123\"").await;
        assert_eq!((stale.status, stale.header("etag")), (StatusCode::OK, Some(tag.as_str())), "{uri}");
        assert_eq!(stale.json(), first.json());

        // Authenticated: private, and the tag of what this caller sees.
        let mine = get(&app, uri, Some(&seller.access)).await;
        let expected_cache = if personal { "private" } else { "public, max-age=60" };
        assert_eq!(mine.header("cache-control"), Some(expected_cache), "{uri}");
        let my_tag = mine.header("etag").unwrap().to_owned();
        let again = get_if_none_match(&app, uri, Some(&seller.access), &my_tag).await;
        assert_eq!((again.status, again.header("cache-control")), (StatusCode::NOT_MODIFIED, Some(expected_cache)));
    }

    // A change makes a new tag: the old one no longer matches.
    let before = get(&app, &product_uri, Some(&seller.access)).await.header("etag").unwrap().to_owned();
    set_like(&app, &seller.access, &id, true).await;
    let after = get_if_none_match(&app, &product_uri, Some(&seller.access), &before).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.header("etag"), Some(before.as_str()));
    assert_eq!(after.json()["liked_by_me"], true);
}

#[actix_web::test]
async fn anonymous_catalogue_reads_are_public_with_no_max_age_by_default() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    seller_with_products(&app, 1).await;
    for uri in ["/api/v1/products", "/api/v1/categories"] {
        assert_eq!(get(&app, uri, None).await.header("cache-control"), Some("public, max-age=0"), "{uri}");
    }
    // Not found stays a problem, without a tag.
    let missing = get(&app, "/api/v1/products/0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a80", None).await;
    missing.problem(404, "not_found");
    assert_eq!(missing.header("etag"), None);
}
