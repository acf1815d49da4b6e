//! The catalogue over HTTP: products (create, read, change, delete, who may), likes and
//! `/users/me/likes`, categories, reviews with their counts and averages, what deleting an
//! account takes from the catalogue, and how the catalogue is documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog_support;
mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::init_service;
use catalog_support::*;
use common::*;
use serde_json::{Value, json};
use storefront_domain::Permission;
use storefront_http::{build_app, openapi};

fn sorted(mut fields: Vec<String>) -> Vec<String> {
    fields.sort();
    fields
}

// ---------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_product_is_created_with_its_location_and_every_field_of_the_contract() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;

    let reply = send(
        &app,
        call(
            Method::POST,
            "/api/v1/products",
            Some(&seller.access),
            Some(json!({"name": "  Walnut desk ", "price_cents": 49900, "stock": 12})),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let created = reply.json();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/products/{}", created["id"].as_str().unwrap()).as_str())
    );
    assert_eq!(keys(&created), product_keys());
    assert_eq!(created["owner_id"], user_id(&seller.access));
    assert_eq!(created["name"], "Walnut desk");
    assert_eq!(created["description"], "");
    assert_eq!(created["price_cents"], 49900);
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["stock"], 12);
    assert_eq!(created["categories"], json!([]));
    assert_eq!(created["like_count"], 0);
    assert_eq!(created["review_count"], 0);
    assert_eq!(created["rating_avg"], Value::Null);
    assert_eq!(created["liked_by_me"], false);
    assert_eq!(created["created_at"], created["updated_at"]);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap().get_version_num(), 7);

    let location = reply.header("location").unwrap().to_owned();
    let read = get(&app, &location, None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json(), created);
}

#[actix_web::test]
async fn the_currency_of_every_product_comes_from_the_configuration() {
    let mut state = state();
    state.config.currency = "EUR".into();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    assert_eq!(created["currency"], "EUR");
    let listed = get(&app, "/api/v1/products", None).await.json();
    assert_eq!(listed["items"][0]["currency"], "EUR");
}

#[actix_web::test]
async fn server_set_fields_in_a_new_product_answer_422_naming_the_field() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let server_set = [
        ("id", json!(uuid::Uuid::now_v7())),
        ("owner_id", json!(uuid::Uuid::now_v7())),
        ("currency", json!("USD")),
        ("categories", json!([])),
        ("like_count", json!(1000)),
        ("review_count", json!(3)),
        ("rating_avg", json!(5.0)),
        ("liked_by_me", json!(true)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2020-01-01T00:00:00Z")),
    ];
    for (field, value) in server_set {
        let mut body = new_product("Mug", 900, 3);
        body[field] = value;
        let reply = send(&app, call(Method::POST, "/api/v1/products", Some(&seller.access), Some(body))).await;
        assert_eq!(reply.fields(), [field], "{field}");
    }
    let listed = get(&app, "/api/v1/products", None).await.json();
    assert_eq!(listed["total"], 0, "nothing was created");
}

#[actix_web::test]
async fn a_new_product_out_of_bounds_or_of_the_wrong_shape_answers_422_naming_each_field() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let create = |body: Value| call(Method::POST, "/api/v1/products", Some(&seller.access), Some(body));

    let too_small = json!({"name": "   ", "price_cents": -1, "stock": -1, "description": ""});
    assert_eq!(sorted(send(&app, create(too_small)).await.fields()), ["name", "price_cents", "stock"]);
    let too_big = json!({
        "name": "n".repeat(201),
        "description": "d".repeat(5001),
        "price_cents": 100_000_001,
        "stock": 1_000_001
    });
    assert_eq!(sorted(send(&app, create(too_big)).await.fields()), ["description", "name", "price_cents", "stock"]);
    assert_eq!(sorted(send(&app, create(json!({}))).await.fields()), ["name", "price_cents", "stock"]);
    let wrong_types = json!({"name": 5, "price_cents": 12.5, "stock": "3"});
    assert_eq!(sorted(send(&app, create(wrong_types)).await.fields()), ["name", "price_cents", "stock"]);
    let nulls = json!({"name": "Mug", "price_cents": 900, "stock": 3, "description": null, "category_ids": null});
    assert_eq!(sorted(send(&app, create(nulls)).await.fields()), ["category_ids", "description"]);
    let bad_id = json!({"name": "Mug", "price_cents": 900, "stock": 3, "category_ids": ["not-a-uuid"]});
    assert_eq!(send(&app, create(bad_id)).await.fields(), ["category_ids[0]"]);

    // The bounds themselves are fine.
    let edges = json!({"name": "n".repeat(200), "description": "d".repeat(5000), "price_cents": 100_000_000, "stock": 1_000_000});
    assert_eq!(send(&app, create(edges)).await.status, StatusCode::CREATED);
    let zeros = json!({"name": "Free sample", "price_cents": 0, "stock": 0});
    assert_eq!(send(&app, create(zeros)).await.status, StatusCode::CREATED);
}

#[actix_web::test]
async fn an_unknown_category_id_answers_422_naming_category_ids() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let body = json!({"name": "Mug", "price_cents": 900, "stock": 3, "category_ids": [uuid::Uuid::now_v7()]});
    let reply = send(&app, call(Method::POST, "/api/v1/products", Some(&seller.access), Some(body))).await;
    assert_eq!(reply.fields(), ["category_ids"]);
}

#[actix_web::test]
async fn a_product_is_created_in_its_categories_listed_by_name() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let kitchen = create_category(&app, &admin.access, "Kitchen").await;
    let gifts = create_category(&app, &admin.access, "Gifts").await;
    let seller = signed_up(&app, "seller@example.com").await;
    let body = json!({
        "name": "Mug", "price_cents": 900, "stock": 3,
        "category_ids": [kitchen["id"], gifts["id"], kitchen["id"]]
    });
    let created = create_product(&app, &seller.access, body).await;
    assert_eq!(
        created["categories"],
        json!([
            {"id": gifts["id"], "name": "Gifts", "slug": "gifts"},
            {"id": kitchen["id"], "name": "Kitchen", "slug": "kitchen"}
        ])
    );
}

#[actix_web::test]
async fn creating_a_product_needs_a_token_and_the_products_create_permission() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    create_role_with(&state, &principal(&state, &admin.access).await, "browser", &[]).await;
    let browser = signed_in_with_role(&app, &state, "browser@example.com", "browser").await;

    let anonymous = send(&app, call(Method::POST, "/api/v1/products", None, Some(new_product("Mug", 900, 3)))).await;
    anonymous.problem(401, "unauthorized");
    assert_eq!(anonymous.header("www-authenticate"), Some(r#"Bearer realm="storefront""#));
    let bad_token =
        send(&app, call(Method::POST, "/api/v1/products", Some("not-a-jwt"), Some(new_product("Mug", 900, 3)))).await;
    bad_token.problem(401, "invalid_token");
    let refused =
        send(&app, call(Method::POST, "/api/v1/products", Some(&browser.access), Some(new_product("Mug", 900, 3))))
            .await;
    refused.problem(403, "forbidden");
    assert_eq!(get(&app, "/api/v1/products", None).await.json()["total"], 0);
}

#[actix_web::test]
async fn anyone_reads_a_product_and_an_unknown_or_malformed_id_answers_404() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let id = created["id"].as_str().unwrap();

    assert_eq!(get(&app, &format!("/api/v1/products/{id}"), None).await.json(), created);
    assert_eq!(get(&app, &format!("/api/v1/products/{id}"), Some(&seller.access)).await.json(), created);
    get(&app, &format!("/api/v1/products/{}", uuid::Uuid::now_v7()), None).await.problem(404, "not_found");
    get(&app, "/api/v1/products/not-a-uuid", None).await.problem(404, "not_found");
}

#[actix_web::test]
async fn an_invalid_token_on_a_public_read_answers_401_invalid_token_and_none_reads_anonymously() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let one = format!("/api/v1/products/{}", created["id"].as_str().unwrap());

    for uri in ["/api/v1/products", one.as_str()] {
        let reply = get(&app, uri, Some("garbage")).await;
        reply.problem(401, "invalid_token");
        assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="storefront", error="invalid_token""#));
        assert_eq!(get(&app, uri, None).await.status, StatusCode::OK, "{uri}");
        // Another scheme is no bearer token: the caller is anonymous.
        let basic = call(Method::GET, uri, None, None).insert_header(("authorization", "Basic Og=="));
        assert_eq!(send(&app, basic).await.status, StatusCode::OK, "{uri}");
    }
    // A token whose session has ended is no longer valid here either.
    let logout = send(&app, call(Method::POST, "/api/v1/auth/logout-all", Some(&seller.access), None)).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    get(&app, "/api/v1/products", Some(&seller.access)).await.problem(401, "invalid_token");
}

#[actix_web::test]
async fn the_owner_changes_a_product_field_by_field() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let kitchen = create_category(&app, &admin.access, "Kitchen").await;
    let gifts = create_category(&app, &admin.access, "Gifts").await;
    let seller = signed_up(&app, "seller@example.com").await;
    let body =
        json!({"name": "Mug", "description": "White", "price_cents": 900, "stock": 3, "category_ids": [kitchen["id"]]});
    let created = create_product(&app, &seller.access, body).await;
    let uri = format!("/api/v1/products/{}", created["id"].as_str().unwrap());
    let patch = |body: Value| call(Method::PATCH, &uri, Some(&seller.access), Some(body));

    let reply = send(&app, patch(json!({"price_cents": 1100, "stock": 0}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let changed = reply.json();
    assert_eq!(keys(&changed), product_keys());
    assert_eq!((changed["price_cents"].clone(), changed["stock"].clone()), (json!(1100), json!(0)));
    assert_eq!((changed["name"].clone(), changed["description"].clone()), (json!("Mug"), json!("White")));
    assert_eq!(changed["categories"][0]["slug"], "kitchen");
    assert_eq!(changed["created_at"], created["created_at"]);
    assert!(time(&changed["updated_at"]) > time(&created["updated_at"]));

    let changed = send(&app, patch(json!({"name": "Big mug", "description": "", "category_ids": [gifts["id"]]}))).await;
    let changed = changed.json();
    assert_eq!((changed["name"].clone(), changed["description"].clone()), (json!("Big mug"), json!("")));
    assert_eq!(changed["categories"], json!([{"id": gifts["id"], "name": "Gifts", "slug": "gifts"}]));
    let changed = send(&app, patch(json!({"category_ids": []}))).await.json();
    assert_eq!(changed["categories"], json!([]));
    assert_eq!(get(&app, &uri, None).await.json(), changed);
}

#[actix_web::test]
async fn a_product_change_with_nulls_unknown_fields_or_out_of_bounds_values_answers_422() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let uri = format!("/api/v1/products/{}", created["id"].as_str().unwrap());
    let patch = |body: Value| call(Method::PATCH, &uri, Some(&seller.access), Some(body));

    for field in ["name", "description", "price_cents", "stock", "category_ids"] {
        let mut body = json!({});
        body[field] = Value::Null;
        assert_eq!(send(&app, patch(body)).await.fields(), [field], "null {field}");
    }
    for field in ["owner_id", "like_count", "id", "created_at"] {
        let mut body = json!({"name": "Renamed"});
        body[field] = json!(uuid::Uuid::now_v7());
        assert_eq!(send(&app, patch(body)).await.fields(), [field], "{field}");
    }
    let bounds = json!({"name": "", "price_cents": 100_000_001, "stock": -5});
    assert_eq!(sorted(send(&app, patch(bounds)).await.fields()), ["name", "price_cents", "stock"]);
    let unknown_category = json!({"category_ids": [uuid::Uuid::now_v7()]});
    assert_eq!(send(&app, patch(unknown_category)).await.fields(), ["category_ids"]);
    assert_eq!(get(&app, &uri, None).await.json(), created, "nothing changed");
}

#[actix_web::test]
async fn others_get_403_on_a_product_and_update_any_or_delete_any_holders_may() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let admin_principal = principal(&state, &admin.access).await;
    create_role_with(&state, &admin_principal, "editor", &[Permission::ProductsUpdateAny]).await;
    create_role_with(&state, &admin_principal, "janitor", &[Permission::ProductsDeleteAny]).await;
    let editor = signed_in_with_role(&app, &state, "editor@example.com", "editor").await;
    let janitor = signed_in_with_role(&app, &state, "janitor@example.com", "janitor").await;
    let seller = signed_up(&app, "seller@example.com").await;
    let other = signed_up(&app, "other@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let uri = format!("/api/v1/products/{}", created["id"].as_str().unwrap());
    let rename = |access: &str| call(Method::PATCH, &uri, Some(access), Some(json!({"name": "Renamed"})));
    let delete = |access: &str| call(Method::DELETE, &uri, Some(access), None);

    send(&app, rename(&other.access)).await.problem(403, "forbidden");
    send(&app, rename(&janitor.access)).await.problem(403, "forbidden");
    send(&app, delete(&other.access)).await.problem(403, "forbidden");
    send(&app, delete(&editor.access)).await.problem(403, "forbidden");
    send(&app, call(Method::PATCH, &uri, None, Some(json!({"name": "x"})))).await.problem(401, "unauthorized");
    send(&app, call(Method::DELETE, &uri, None, None)).await.problem(401, "unauthorized");
    assert_eq!(get(&app, &uri, None).await.json(), created, "nothing changed");

    let edited = send(&app, rename(&editor.access)).await;
    assert_eq!(edited.status, StatusCode::OK);
    assert_eq!(edited.json()["name"], "Renamed");
    assert_eq!(edited.json()["owner_id"], user_id(&seller.access), "the owner stays");
    assert_eq!(send(&app, delete(&janitor.access)).await.status, StatusCode::NO_CONTENT);
    get(&app, &uri, None).await.problem(404, "not_found");
}

#[actix_web::test]
async fn the_owner_deletes_a_product_and_it_is_gone_with_its_likes_and_reviews() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let fan = signed_up(&app, "fan@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let id = created["id"].as_str().unwrap();
    set_like(&app, &fan.access, id, true).await;
    create_review(&app, &fan.access, id, 5).await;
    let uri = format!("/api/v1/products/{id}");

    let deleted = send(&app, call(Method::DELETE, &uri, Some(&seller.access), None)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
    get(&app, &uri, None).await.problem(404, "not_found");
    send(&app, call(Method::DELETE, &uri, Some(&seller.access), None)).await.problem(404, "not_found");
    send(&app, call(Method::PATCH, &uri, Some(&seller.access), Some(json!({"stock": 1}))))
        .await
        .problem(404, "not_found");
    assert_eq!(get(&app, "/api/v1/users/me/likes", Some(&fan.access)).await.json()["total"], 0);
    get(&app, &format!("{uri}/reviews"), None).await.problem(404, "not_found");
}

// ---------------------------------------------------------------------------------------
// Likes
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn liking_is_idempotent_and_counted_once_per_user_and_liked_by_me_is_the_callers() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let ada = signed_up(&app, "ada@example.com").await;
    let bob = signed_up(&app, "bob@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let id = created["id"].as_str().unwrap();
    let uri = format!("/api/v1/products/{id}");

    set_like(&app, &ada.access, id, true).await;
    set_like(&app, &ada.access, id, true).await;
    let by_ada = get(&app, &uri, Some(&ada.access)).await.json();
    assert_eq!((by_ada["like_count"].clone(), by_ada["liked_by_me"].clone()), (json!(1), json!(true)));
    let by_bob = get(&app, &uri, Some(&bob.access)).await.json();
    assert_eq!((by_bob["like_count"].clone(), by_bob["liked_by_me"].clone()), (json!(1), json!(false)));
    let anonymous = get(&app, &uri, None).await.json();
    assert_eq!((anonymous["like_count"].clone(), anonymous["liked_by_me"].clone()), (json!(1), json!(false)));

    set_like(&app, &bob.access, id, true).await;
    assert_eq!(get(&app, &uri, None).await.json()["like_count"], 2);
    let listed = get(&app, "/api/v1/products", Some(&bob.access)).await.json();
    assert_eq!(
        (listed["items"][0]["like_count"].clone(), listed["items"][0]["liked_by_me"].clone()),
        (json!(2), json!(true))
    );

    set_like(&app, &ada.access, id, false).await;
    set_like(&app, &ada.access, id, false).await;
    let by_ada = get(&app, &uri, Some(&ada.access)).await.json();
    assert_eq!((by_ada["like_count"].clone(), by_ada["liked_by_me"].clone()), (json!(1), json!(false)));
    // Unliking what one never liked is fine too.
    set_like(&app, &seller.access, id, false).await;
    assert_eq!(get(&app, &uri, None).await.json()["like_count"], 1);
}

#[actix_web::test]
async fn liking_needs_a_token_and_an_existing_product() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let ada = signed_up(&app, "ada@example.com").await;
    let created = create_product(&app, &ada.access, new_product("Mug", 900, 3)).await;
    let like = format!("/api/v1/products/{}/like", created["id"].as_str().unwrap());
    let unknown = format!("/api/v1/products/{}/like", uuid::Uuid::now_v7());

    for method in [Method::PUT, Method::DELETE] {
        let anonymous = send(&app, call(method.clone(), &like, None, None)).await;
        anonymous.problem(401, "unauthorized");
        assert!(anonymous.header("www-authenticate").is_some());
        send(&app, call(method.clone(), &unknown, Some(&ada.access), None)).await.problem(404, "not_found");
        let malformed = call(method.clone(), "/api/v1/products/nope/like", Some(&ada.access), None);
        send(&app, malformed).await.problem(404, "not_found");
    }
    // Liking one's own product is allowed.
    set_like(&app, &ada.access, created["id"].as_str().unwrap(), true).await;
    let reply = send(&app, call(Method::POST, &like, Some(&ada.access), None)).await;
    reply.problem(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("PUT, DELETE"));
}

#[actix_web::test]
async fn my_likes_list_the_products_i_like_most_recently_liked_first() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let ada = signed_up(&app, "ada@example.com").await;
    let mut ids = Vec::new();
    for name in ["One", "Two", "Three", "Not liked"] {
        ids.push(
            create_product(&app, &seller.access, new_product(name, 100, 1)).await["id"].as_str().unwrap().to_owned(),
        );
    }
    for id in &ids[..3] {
        set_like(&app, &ada.access, id, true).await;
    }
    // Liking again keeps the first like's place.
    set_like(&app, &ada.access, &ids[0], true).await;

    let mine = get(&app, "/api/v1/users/me/likes", Some(&ada.access)).await;
    assert_eq!(mine.status, StatusCode::OK);
    let mine = mine.json();
    assert_eq!(keys(&mine), ["items", "limit", "offset", "total"]);
    assert_eq!((mine["total"].clone(), mine["limit"].clone(), mine["offset"].clone()), (json!(3), json!(20), json!(0)));
    assert_eq!(item_ids(&mine), [ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    for item in mine["items"].as_array().unwrap() {
        assert_eq!(keys(item), product_keys());
        assert_eq!(item["liked_by_me"], true);
        assert_eq!(item["like_count"], 1);
    }
    let page = get(&app, "/api/v1/users/me/likes?limit=2&offset=1", Some(&ada.access)).await.json();
    assert_eq!(item_ids(&page), [ids[1].clone(), ids[0].clone()]);
    assert_eq!((page["total"].clone(), page["limit"].clone(), page["offset"].clone()), (json!(3), json!(2), json!(1)));

    let seller_likes = get(&app, "/api/v1/users/me/likes", Some(&seller.access)).await.json();
    assert_eq!(seller_likes, json!({"items": [], "total": 0, "limit": 20, "offset": 0}));
    get(&app, "/api/v1/users/me/likes", None).await.problem(401, "unauthorized");
    assert_eq!(get(&app, "/api/v1/users/me/likes?limit=0", Some(&ada.access)).await.fields(), ["limit"]);
    assert_eq!(get(&app, "/api/v1/users/me/likes?offset=-1", Some(&ada.access)).await.fields(), ["offset"]);
}

// ---------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn categories_are_created_with_a_location_and_listed_with_their_product_counts() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let create = |body: Value| call(Method::POST, "/api/v1/categories", Some(&admin.access), Some(body));

    let reply = send(&app, create(json!({"name": "Home & Garden"}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let garden = reply.json();
    assert_eq!(keys(&garden), ["id", "name", "product_count", "slug"]);
    assert_eq!((garden["name"].clone(), garden["slug"].clone()), (json!("Home & Garden"), json!("home-and-garden")));
    assert_eq!(garden["product_count"], 0);
    let location = format!("/api/v1/categories/{}", garden["id"].as_str().unwrap());
    assert_eq!(reply.header("location"), Some(location.as_str()));
    assert_eq!(get(&app, &location, None).await.json(), garden);

    let books = send(&app, create(json!({"name": "Books", "slug": "reading"}))).await.json();
    assert_eq!(books["slug"], "reading");
    let seller = signed_up(&app, "seller@example.com").await;
    for name in ["Spade", "Rake"] {
        let body = json!({"name": name, "price_cents": 100, "stock": 1, "category_ids": [garden["id"]]});
        create_product(&app, &seller.access, body).await;
    }

    let listed = get(&app, "/api/v1/categories", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.json(),
        json!([
            {"id": books["id"], "name": "Books", "slug": "reading", "product_count": 0},
            {"id": garden["id"], "name": "Home & Garden", "slug": "home-and-garden", "product_count": 2}
        ])
    );
    get(&app, &format!("/api/v1/categories/{}", uuid::Uuid::now_v7()), None).await.problem(404, "not_found");
}

#[actix_web::test]
async fn a_taken_slug_answers_409_conflict_and_a_derived_one_gets_a_suffix() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let create = |body: Value| call(Method::POST, "/api/v1/categories", Some(&admin.access), Some(body));

    assert_eq!(send(&app, create(json!({"name": "Shoes"}))).await.status, StatusCode::CREATED);
    send(&app, create(json!({"name": "Footwear", "slug": "shoes"}))).await.problem(409, "conflict");
    let second = send(&app, create(json!({"name": "Shoes"}))).await.json();
    assert_eq!(second["slug"], "shoes-2");
    assert_eq!(get(&app, "/api/v1/categories", None).await.json().as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn a_category_with_a_bad_name_or_slug_answers_422_naming_it() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let create = |body: Value| call(Method::POST, "/api/v1/categories", Some(&admin.access), Some(body));

    assert_eq!(send(&app, create(json!({"name": "  "}))).await.fields(), ["name"]);
    assert_eq!(send(&app, create(json!({"name": "n".repeat(101)}))).await.fields(), ["name"]);
    for slug in ["Shoes", "-shoes", "shoes-", "sh--oes", "sh oes", ""] {
        assert_eq!(send(&app, create(json!({"name": "Shoes", "slug": slug}))).await.fields(), ["slug"], "{slug:?}");
    }
    assert_eq!(send(&app, create(json!({"name": "Shoes", "slug": null}))).await.fields(), ["slug"]);
    assert_eq!(send(&app, create(json!({"slug": "shoes"}))).await.fields(), ["name"]);
    assert_eq!(send(&app, create(json!({"name": "Shoes", "product_count": 3}))).await.fields(), ["product_count"]);
    assert_eq!(get(&app, "/api/v1/categories", None).await.json(), json!([]));
}

#[actix_web::test]
async fn a_category_is_renamed_or_reslugged_and_its_products_follow() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let shoes = create_category(&app, &admin.access, "Shoes").await;
    let boots = create_category(&app, &admin.access, "Boots").await;
    let seller = signed_up(&app, "seller@example.com").await;
    let body = json!({"name": "Sneaker", "price_cents": 100, "stock": 1, "category_ids": [shoes["id"]]});
    let sneaker = create_product(&app, &seller.access, body).await;
    let uri = format!("/api/v1/categories/{}", shoes["id"].as_str().unwrap());
    let patch = |body: Value| call(Method::PATCH, &uri, Some(&admin.access), Some(body));

    let renamed = send(&app, patch(json!({"name": "Footwear"}))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(renamed.json(), json!({"id": shoes["id"], "name": "Footwear", "slug": "shoes", "product_count": 1}));
    let reslugged = send(&app, patch(json!({"slug": "footwear"}))).await.json();
    assert_eq!(reslugged["slug"], "footwear");
    let product = product(&app, sneaker["id"].as_str().unwrap()).await;
    assert_eq!(product["categories"], json!([{"id": shoes["id"], "name": "Footwear", "slug": "footwear"}]));
    assert_eq!(get(&app, "/api/v1/products?category=footwear", None).await.json()["total"], 1);
    assert_eq!(get(&app, "/api/v1/products?category=shoes", None).await.json()["total"], 0);

    send(&app, patch(json!({"slug": "boots"}))).await.problem(409, "conflict");
    // Its own slug is not taken by itself.
    assert_eq!(send(&app, patch(json!({"slug": "footwear"}))).await.status, StatusCode::OK);
    assert_eq!(send(&app, patch(json!({"slug": null}))).await.fields(), ["slug"]);
    assert_eq!(send(&app, patch(json!({"slug": "Not A Slug"}))).await.fields(), ["slug"]);
    assert_eq!(send(&app, patch(json!({"id": boots["id"]}))).await.fields(), ["id"]);
    let unknown = format!("/api/v1/categories/{}", uuid::Uuid::now_v7());
    let reply = send(&app, call(Method::PATCH, &unknown, Some(&admin.access), Some(json!({"name": "x"})))).await;
    reply.problem(404, "not_found");
    let malformed = call(Method::PATCH, "/api/v1/categories/nope", Some(&admin.access), Some(json!({"name": "x"})));
    send(&app, malformed).await.problem(404, "not_found");
}

#[actix_web::test]
async fn deleting_a_category_unlinks_its_products() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let shoes = create_category(&app, &admin.access, "Shoes").await;
    let seller = signed_up(&app, "seller@example.com").await;
    let body = json!({"name": "Sneaker", "price_cents": 100, "stock": 1, "category_ids": [shoes["id"]]});
    let sneaker = create_product(&app, &seller.access, body).await;
    let uri = format!("/api/v1/categories/{}", shoes["id"].as_str().unwrap());

    let deleted = send(&app, call(Method::DELETE, &uri, Some(&admin.access), None)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, "/api/v1/categories", None).await.json(), json!([]));
    assert_eq!(product(&app, sneaker["id"].as_str().unwrap()).await["categories"], json!([]));
    send(&app, call(Method::DELETE, &uri, Some(&admin.access), None)).await.problem(404, "not_found");
    send(&app, call(Method::DELETE, "/api/v1/categories/nope", Some(&admin.access), None))
        .await
        .problem(404, "not_found");
}

#[actix_web::test]
async fn managing_categories_needs_a_token_and_categories_manage() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let shoes = create_category(&app, &admin.access, "Shoes").await;
    let uri = format!("/api/v1/categories/{}", shoes["id"].as_str().unwrap());
    let user = signed_up(&app, "user@example.com").await;
    create_role_with(&state, &principal(&state, &admin.access).await, "curator", &[Permission::CategoriesManage]).await;
    let curator = signed_in_with_role(&app, &state, "curator@example.com", "curator").await;

    let attempts = |access: Option<&str>| {
        [
            call(Method::POST, "/api/v1/categories", access, Some(json!({"name": "Hats"}))),
            call(Method::PATCH, &uri, access, Some(json!({"name": "Hats"}))),
            call(Method::DELETE, &uri, access, None),
        ]
    };
    for req in attempts(None) {
        send(&app, req).await.problem(401, "unauthorized");
    }
    for req in attempts(Some(&user.access)) {
        send(&app, req).await.problem(403, "forbidden");
    }
    // Refused before the body is read.
    let bad_body = call(Method::POST, "/api/v1/categories", Some(&user.access), Some(json!({"nom": 1})));
    send(&app, bad_body).await.problem(403, "forbidden");
    assert_eq!(get(&app, "/api/v1/categories", None).await.json().as_array().unwrap().len(), 1);

    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for req in attempts(Some(&curator.access)) {
            statuses.push(send(&app, req).await.status.as_u16());
        }
        statuses
    };
    assert_eq!(statuses, [201, 200, 204]);
}

// ---------------------------------------------------------------------------------------
// Reviews
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_review_is_created_with_its_location_and_listed_newest_first() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let id = created["id"].as_str().unwrap();
    let uri = format!("/api/v1/products/{id}/reviews");
    let mut reviewers = Vec::new();
    for n in 0..3 {
        reviewers.push(signed_up(&app, &format!("reviewer-{n}@example.com")).await);
    }

    let body = json!({"rating": 5, "body": "Sturdy and beautiful."});
    let reply = send(&app, call(Method::POST, &uri, Some(&reviewers[0].access), Some(body))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let first = reply.json();
    assert_eq!(
        keys(&first),
        ["author", "body", "created_at", "id", "moderation", "product_id", "rating", "updated_at", "verified_purchase"]
    );
    assert_eq!(
        first["moderation"],
        json!({"status": "approved", "toxicity": null, "checked_at": null}),
        "its author sees it approved until checked"
    );
    let first = public(first);
    assert_eq!(reply.header("location"), Some(format!("/api/v1/reviews/{}", first["id"].as_str().unwrap()).as_str()));
    assert_eq!(first["product_id"], id);
    assert_eq!(first["author"], json!({"id": user_id(&reviewers[0].access), "name": "Ada"}));
    assert_eq!((first["rating"].clone(), first["body"].clone()), (json!(5), json!("Sturdy and beautiful.")));
    assert_eq!(first["verified_purchase"], false);
    assert_eq!(first["created_at"], first["updated_at"]);
    let location = reply.header("location").unwrap().to_owned();
    assert_eq!(get(&app, &location, None).await.json(), first, "the Location is readable");
    let unknown = format!("/api/v1/reviews/{}", uuid::Uuid::now_v7());
    assert_eq!(get(&app, &unknown, None).await.status, StatusCode::NOT_FOUND);

    let second = public(create_review(&app, &reviewers[1].access, id, 3).await);
    assert_eq!(second["body"], "", "the body defaults to empty");
    let third = public(create_review(&app, &reviewers[2].access, id, 4).await);

    let listed = get(&app, &uri, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed = listed.json();
    assert_eq!(
        (listed["total"].clone(), listed["limit"].clone(), listed["offset"].clone()),
        (json!(3), json!(20), json!(0))
    );
    assert_eq!(listed["items"], json!([third, second, first]));
    let page = get(&app, &format!("{uri}?limit=1&offset=1"), None).await.json();
    assert_eq!(page["items"], json!([second]));
    assert_eq!((page["total"].clone(), page["limit"].clone(), page["offset"].clone()), (json!(3), json!(1), json!(1)));
    assert_eq!(get(&app, &format!("{uri}?limit=101"), None).await.fields(), ["limit"]);
}

#[actix_web::test]
async fn a_second_review_by_the_same_user_answers_409_review_exists() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let ada = signed_up(&app, "ada@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let id = created["id"].as_str().unwrap();
    create_review(&app, &ada.access, id, 4).await;

    let uri = format!("/api/v1/products/{id}/reviews");
    let again = send(&app, call(Method::POST, &uri, Some(&ada.access), Some(json!({"rating": 1})))).await;
    again.problem(409, "review_exists");
    assert_eq!(product(&app, id).await["review_count"], 1);
}

#[actix_web::test]
async fn reviewing_ones_own_product_answers_403_and_an_unknown_product_404() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let own = format!("/api/v1/products/{}/reviews", created["id"].as_str().unwrap());
    let unknown = format!("/api/v1/products/{}/reviews", uuid::Uuid::now_v7());

    send(&app, call(Method::POST, &own, Some(&seller.access), Some(json!({"rating": 5}))))
        .await
        .problem(403, "forbidden");
    send(&app, call(Method::POST, &unknown, Some(&seller.access), Some(json!({"rating": 5}))))
        .await
        .problem(404, "not_found");
    let malformed =
        call(Method::POST, "/api/v1/products/nope/reviews", Some(&seller.access), Some(json!({"rating": 5})));
    send(&app, malformed).await.problem(404, "not_found");
    get(&app, &unknown, None).await.problem(404, "not_found");
    get(&app, "/api/v1/products/nope/reviews", None).await.problem(404, "not_found");
    let anonymous = send(&app, call(Method::POST, &own, None, Some(json!({"rating": 5})))).await;
    anonymous.problem(401, "unauthorized");
    assert_eq!(get(&app, &own, None).await.json()["total"], 0);
}

#[actix_web::test]
async fn a_rating_outside_1_to_5_or_a_bad_review_body_answers_422() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let ada = signed_up(&app, "ada@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let uri = format!("/api/v1/products/{}/reviews", created["id"].as_str().unwrap());
    let post = |body: Value| call(Method::POST, &uri, Some(&ada.access), Some(body));

    for rating in [json!(0), json!(6), json!(-1), json!(4.5), json!("5"), Value::Null] {
        assert_eq!(send(&app, post(json!({"rating": rating}))).await.fields(), ["rating"], "{rating}");
    }
    assert_eq!(send(&app, post(json!({}))).await.fields(), ["rating"]);
    assert_eq!(send(&app, post(json!({"rating": 3, "body": "b".repeat(2001)}))).await.fields(), ["body"]);
    assert_eq!(send(&app, post(json!({"rating": 3, "body": null}))).await.fields(), ["body"]);
    assert_eq!(send(&app, post(json!({"rating": 3, "verified_purchase": true}))).await.fields(), ["verified_purchase"]);
    assert_eq!(product(&app, created["id"].as_str().unwrap()).await["review_count"], 0);
    let edges = send(&app, post(json!({"rating": 1, "body": "b".repeat(2000)}))).await;
    assert_eq!(edges.status, StatusCode::CREATED);
}

#[actix_web::test]
async fn review_count_and_rating_avg_follow_reviews_created_changed_and_deleted() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let id = created["id"].as_str().unwrap();
    let mut reviewers = Vec::new();
    for n in 0..3 {
        reviewers.push(signed_up(&app, &format!("reviewer-{n}@example.com")).await);
    }
    let counts = || async {
        let p = product(&app, id).await;
        (p["review_count"].as_u64().unwrap(), p["rating_avg"].as_f64())
    };

    assert_eq!(counts().await, (0, None));
    let four = create_review(&app, &reviewers[0].access, id, 4).await;
    assert_eq!(counts().await, (1, Some(4.0)));
    create_review(&app, &reviewers[1].access, id, 5).await;
    assert_eq!(counts().await, (2, Some(4.5)));
    let last = create_review(&app, &reviewers[2].access, id, 5).await;
    assert_eq!(counts().await, (3, Some(4.7)), "14/3 rounds to one decimal");

    let review = format!("/api/v1/reviews/{}", four["id"].as_str().unwrap());
    let changed =
        send(&app, call(Method::PATCH, &review, Some(&reviewers[0].access), Some(json!({"rating": 1})))).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(counts().await, (3, Some(3.7)), "11/3");
    let listed = get(&app, "/api/v1/products?sort=rating", None).await.json();
    assert_eq!(listed["items"][0]["rating_avg"], 3.7);

    let delete = |review: &Value, access: &str| {
        call(Method::DELETE, &format!("/api/v1/reviews/{}", review["id"].as_str().unwrap()), Some(access), None)
    };
    assert_eq!(send(&app, delete(&last, &reviewers[2].access)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(counts().await, (2, Some(3.0)));
    assert_eq!(send(&app, delete(&four, &reviewers[0].access)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(counts().await, (1, Some(5.0)));
    let rest = get(&app, &format!("/api/v1/products/{id}/reviews"), None).await.json();
    let rest = rest["items"][0].clone();
    assert_eq!(send(&app, delete(&rest, &reviewers[1].access)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(counts().await, (0, None));
    assert_eq!(product(&app, id).await["rating_avg"], Value::Null);
}

#[actix_web::test]
async fn only_its_author_changes_a_review() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let ada = signed_up(&app, "ada@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let review = create_review(&app, &ada.access, created["id"].as_str().unwrap(), 4).await;
    let uri = format!("/api/v1/reviews/{}", review["id"].as_str().unwrap());
    let patch = |access: Option<&str>, body: Value| call(Method::PATCH, &uri, access, Some(body));

    send(&app, patch(Some(&seller.access), json!({"rating": 1}))).await.problem(403, "forbidden");
    send(&app, patch(Some(&admin.access), json!({"rating": 1}))).await.problem(403, "forbidden");
    send(&app, patch(None, json!({"rating": 1}))).await.problem(401, "unauthorized");
    assert_eq!(send(&app, patch(Some(&ada.access), json!({"rating": null}))).await.fields(), ["rating"]);
    assert_eq!(send(&app, patch(Some(&ada.access), json!({"rating": 9}))).await.fields(), ["rating"]);
    assert_eq!(send(&app, patch(Some(&ada.access), json!({"author": {}}))).await.fields(), ["author"]);

    let changed = send(&app, patch(Some(&ada.access), json!({"body": "Chipped after a week."}))).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let changed = changed.json();
    assert_eq!((changed["rating"].clone(), changed["body"].clone()), (json!(4), json!("Chipped after a week.")));
    assert_eq!(changed["created_at"], review["created_at"]);
    assert!(time(&changed["updated_at"]) > time(&review["updated_at"]));
    let both = send(&app, patch(Some(&ada.access), json!({"rating": 2, "body": ""}))).await.json();
    assert_eq!((both["rating"].clone(), both["body"].clone()), (json!(2), json!("")));

    let unknown = format!("/api/v1/reviews/{}", uuid::Uuid::now_v7());
    let reply = send(&app, call(Method::PATCH, &unknown, Some(&ada.access), Some(json!({"rating": 1})))).await;
    reply.problem(404, "not_found");
    let malformed = call(Method::PATCH, "/api/v1/reviews/nope", Some(&ada.access), Some(json!({"rating": 1})));
    send(&app, malformed).await.problem(404, "not_found");
}

#[actix_web::test]
async fn its_author_or_a_moderator_deletes_a_review_and_others_get_403() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let ada = signed_up(&app, "ada@example.com").await;
    let bob = signed_up(&app, "bob@example.com").await;
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let id = created["id"].as_str().unwrap();
    let by_ada = create_review(&app, &ada.access, id, 1).await;
    let by_bob = create_review(&app, &bob.access, id, 5).await;
    let delete = |review: &Value, access: Option<&str>| {
        call(Method::DELETE, &format!("/api/v1/reviews/{}", review["id"].as_str().unwrap()), access, None)
    };

    send(&app, delete(&by_ada, Some(&seller.access))).await.problem(403, "forbidden");
    send(&app, delete(&by_ada, Some(&bob.access))).await.problem(403, "forbidden");
    send(&app, delete(&by_ada, None)).await.problem(401, "unauthorized");
    assert_eq!(product(&app, id).await["review_count"], 2);

    assert_eq!(send(&app, delete(&by_ada, Some(&moderator.access))).await.status, StatusCode::NO_CONTENT);
    assert_eq!(send(&app, delete(&by_bob, Some(&bob.access))).await.status, StatusCode::NO_CONTENT);
    send(&app, delete(&by_bob, Some(&bob.access))).await.problem(404, "not_found");
    send(&app, call(Method::DELETE, "/api/v1/reviews/nope", Some(&bob.access), None)).await.problem(404, "not_found");
    assert_eq!(product(&app, id).await["review_count"], 0);
    // Once deleted, the author may review again.
    create_review(&app, &ada.access, id, 3).await;
}

// ---------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn deleting_my_account_removes_my_products_likes_and_reviews_and_fixes_the_counts_of_others() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let shelf = create_category(&app, &admin.access, "Shelf").await;
    let leaving = signed_up(&app, "leaving@example.com").await;
    let staying = signed_up(&app, "staying@example.com").await;
    let third = signed_up(&app, "third@example.com").await;
    let body = |name: &str| json!({"name": name, "price_cents": 100, "stock": 1, "category_ids": [shelf["id"]]});
    let mine = create_product(&app, &leaving.access, body("Mine")).await;
    let theirs = create_product(&app, &staying.access, body("Theirs")).await;
    let (mine_id, theirs_id) = (mine["id"].as_str().unwrap(), theirs["id"].as_str().unwrap());

    set_like(&app, &leaving.access, theirs_id, true).await;
    set_like(&app, &third.access, theirs_id, true).await;
    create_review(&app, &leaving.access, theirs_id, 1).await;
    let kept = public(create_review(&app, &third.access, theirs_id, 5).await);
    set_like(&app, &staying.access, mine_id, true).await;
    create_review(&app, &staying.access, mine_id, 4).await;
    let before = product(&app, theirs_id).await;
    assert_eq!(
        (before["like_count"].clone(), before["review_count"].clone(), before["rating_avg"].clone()),
        (json!(2), json!(2), json!(3.0))
    );

    let deleted = send(&app, call(Method::DELETE, "/api/v1/users/me", Some(&leaving.access), None)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    get(&app, &format!("/api/v1/products/{mine_id}"), None).await.problem(404, "not_found");
    let owner = user_id(&leaving.access);
    assert_eq!(get(&app, &format!("/api/v1/products?owner_id={owner}"), None).await.json()["total"], 0);
    let after = product(&app, theirs_id).await;
    assert_eq!(
        (after["like_count"].clone(), after["review_count"].clone(), after["rating_avg"].clone()),
        (json!(1), json!(1), json!(5.0))
    );
    let reviews = get(&app, &format!("/api/v1/products/{theirs_id}/reviews"), None).await.json();
    assert_eq!(reviews["items"], json!([kept]));
    let likes = get(&app, "/api/v1/users/me/likes", Some(&staying.access)).await.json();
    assert_eq!(likes["total"], 0, "the liked product went with its owner");
    let categories = get(&app, "/api/v1/categories", None).await.json();
    assert_eq!(categories[0]["product_count"], 1);
    let listed = get(&app, "/api/v1/products", None).await.json();
    assert_eq!(item_ids(&listed), [theirs_id]);
}

// ---------------------------------------------------------------------------------------
// Documentation
// ---------------------------------------------------------------------------------------

#[test]
fn every_catalogue_operation_is_documented_with_its_tag_and_errors() {
    let doc = serde_json::to_value(openapi()).unwrap();
    let operations = [
        ("/api/v1/products", "get", "products", &["401", "422", "500", "503"][..]),
        ("/api/v1/products", "post", "products", &["400", "401", "403", "413", "415", "422", "500", "503"]),
        ("/api/v1/products/{id}", "get", "products", &["401", "404", "500", "503"]),
        (
            "/api/v1/products/{id}",
            "patch",
            "products",
            &["400", "401", "403", "404", "413", "415", "422", "500", "503"],
        ),
        ("/api/v1/products/{id}", "delete", "products", &["401", "403", "404", "500", "503"]),
        ("/api/v1/products/{id}/like", "put", "products", &["401", "404", "500", "503"]),
        ("/api/v1/products/{id}/like", "delete", "products", &["401", "404", "500", "503"]),
        ("/api/v1/users/me/likes", "get", "products", &["401", "422", "500", "503"]),
        ("/api/v1/categories", "get", "categories", &["500", "503"]),
        ("/api/v1/categories", "post", "categories", &["400", "401", "403", "409", "413", "415", "422", "500", "503"]),
        ("/api/v1/categories/{id}", "get", "categories", &["404", "500", "503"]),
        ("/api/v1/categories/{id}", "patch", "categories", &["401", "403", "404", "409", "422", "500", "503"]),
        ("/api/v1/categories/{id}", "delete", "categories", &["401", "403", "404", "500", "503"]),
        ("/api/v1/products/{id}/reviews", "get", "reviews", &["404", "422", "500", "503"]),
        (
            "/api/v1/products/{id}/reviews",
            "post",
            "reviews",
            &["400", "401", "403", "404", "409", "413", "415", "422", "500", "503"],
        ),
        ("/api/v1/reviews/{id}", "patch", "reviews", &["401", "403", "404", "422", "500", "503"]),
        ("/api/v1/reviews/{id}", "delete", "reviews", &["401", "403", "404", "500", "503"]),
    ];
    for (path, method, tag, statuses) in operations {
        let op = &doc["paths"][path][method];
        let name = format!("{} {path}", method.to_uppercase());
        assert!(op.is_object(), "{name} is not documented");
        assert_eq!(op["tags"], json!([tag]), "{name}");
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{name} has no summary");
        let responses = op["responses"].as_object().unwrap();
        for status in statuses {
            assert!(responses.contains_key(*status), "{name} does not document {status}");
        }
    }
    let optional = json!([{}, {"oauth2": []}, {"bearer": []}]);
    assert_eq!(doc["paths"]["/api/v1/products"]["get"]["security"], optional);
    assert_eq!(doc["paths"]["/api/v1/products/{id}"]["get"]["security"], optional);
    assert_eq!(doc["paths"]["/api/v1/categories"]["get"]["security"], json!([]), "public: no token at all");

    let review_exists = &doc["paths"]["/api/v1/products/{id}/reviews"]["post"]["responses"]["409"];
    assert_eq!(review_exists["content"]["application/problem+json"]["example"]["code"], "review_exists");
    let slug_taken = &doc["paths"]["/api/v1/categories"]["post"]["responses"]["409"];
    assert_eq!(slug_taken["content"]["application/problem+json"]["example"]["code"], "conflict");
    let patch = &doc["paths"]["/api/v1/products/{id}"]["patch"];
    assert_eq!(patch["x-required-permission"], "products:update_any");
    assert!(patch["description"].as_str().unwrap().contains("owner or `products:update_any`"));

    let schemas = &doc["components"]["schemas"];
    let mut required: Vec<String> = schemas["ProductResponse"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    required.sort();
    assert_eq!(required, product_keys());
    assert!(schemas["ProductResponse"]["example"].is_object());
    let create_product: Vec<&str> =
        schemas["CreateProductRequest"]["required"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(create_product, ["name", "price_cents", "stock"]);
    for schema in ["CategoryResponse", "ReviewResponse", "CreateReviewRequest", "UpdateProductRequest"] {
        assert!(schemas[schema]["example"].is_object(), "{schema} has no example");
    }
}

/// Records every mail handed to it.
#[derive(Default)]
struct RecordingMailer(std::sync::Mutex<Vec<storefront_app::ports::Mail>>);

#[async_trait::async_trait]
impl storefront_app::ports::Mailer for RecordingMailer {
    async fn send(&self, mail: &storefront_app::ports::Mail) -> Result<(), storefront_app::ports::MailError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

#[actix_web::test]
async fn a_seller_moving_stock_across_the_threshold_in_a_loop_raises_one_low_stock_alert() {
    use std::sync::Arc;
    use storefront_app::ports::{EventOutbox, PageRequest, SystemClock};
    use storefront_app::{
        HandlerChain, Notifications, OutboxDispatcher, OutboxSettings, RetryPolicy, ReviewModerationHandler,
    };
    use storefront_domain::EventType;

    let store = storefront_memory::MemoryStore::new();
    let state = state_on(store.clone(), storefront_app::AuthSettings::default());
    let app = init_service(build_app(state.clone())).await;
    let _admin = signed_in_admin(&app, &state).await; // holds analytics:read: gets the alerts
    let seller = signed_up(&app, "seller@example.com").await;
    let created = create_product(&app, &seller.access, new_product("Mug", 900, 20)).await;
    let uri = format!("/api/v1/products/{}", created["id"].as_str().unwrap());

    // The flood: down to 0 (at or below the threshold of 5) and back up, five times.
    for round in 0..5 {
        for stock in [0, 20] {
            let reply =
                send(&app, call(Method::PATCH, &uri, Some(&seller.access), Some(json!({"stock": stock})))).await;
            assert_eq!(reply.status, StatusCode::OK, "round {round}: {:?}", reply.body);
        }
    }

    let events = store.events(PageRequest { limit: 100, offset: 0 }).await.unwrap().items;
    let lows: Vec<_> = events.iter().filter(|e| e.event_type == EventType::ProductStockLow).collect();
    assert_eq!(lows.len(), 1, "one product.stock_low for five crossings within the window");
    assert_eq!(lows[0].payload["product_id"], created["id"]);

    // What the alert handler makes of the outbox: one mail to the one analytics:read holder.
    let mailer = Arc::new(RecordingMailer::default());
    let account = storefront_app::AccountMail {
        links: Arc::new(store.clone()),
        tokens: Arc::new(storefront_auth::RandomRefreshTokens),
        settings: storefront_app::LifecycleSettings::default(),
    };
    let notifications = Notifications::new(
        Arc::new(store.clone()),
        mailer.clone(),
        Arc::new(store.clone()),
        account,
        Arc::new(SystemClock),
        "USD".into(),
        chrono::Duration::seconds(60),
    );
    // The handlers as the server chains them: the mails, then review moderation.
    let moderation =
        ReviewModerationHandler::new(Arc::new(store.clone()), state.analysis.clone(), Arc::new(SystemClock));
    let handlers = HandlerChain::new(vec![Arc::new(notifications), Arc::new(moderation)]);
    let dispatcher = OutboxDispatcher::new(
        Arc::new(store.clone()),
        Arc::new(handlers),
        Arc::new(SystemClock),
        RetryPolicy::default(),
        OutboxSettings::default(),
    );
    let report = dispatcher.run_once().await.unwrap();
    assert_eq!(report.failed + report.dead_lettered, 0, "{report:?}");
    let alerts: Vec<String> =
        mailer.0.lock().unwrap().iter().filter(|m| m.subject.starts_with("Low stock:")).map(|m| m.to.clone()).collect();
    assert_eq!(alerts, vec!["admin@example.com".to_owned()]);
}
