//! The product listing over HTTP: pagination, the query parameters and their 422s, each
//! filter and sort on hand-made examples, and a property test paging through many
//! (filter, sort, page size) combinations of a generated catalogue against the domain's
//! reference semantics (`ProductFilter::matches`, `ProductSort::compare`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog_support;
mod common;

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use catalog_support::*;
use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use storefront_domain::{Product, ProductFilter, ProductSort, UserId};
use storefront_http::build_app;

#[actix_web::test]
async fn the_listing_is_newest_first_by_default_and_paginated() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let created = create_product(&app, &seller.access, new_product(&format!("Product {n}"), 100, 1)).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();

    let all = get(&app, "/api/v1/products", None).await;
    assert_eq!(all.status, StatusCode::OK);
    let all = all.json();
    assert_eq!(keys(&all), ["items", "limit", "next_cursor", "offset", "total"]);
    assert_eq!(all["next_cursor"], Value::Null, "a last page has no next one");
    assert_eq!((all["total"].clone(), all["limit"].clone(), all["offset"].clone()), (json!(5), json!(20), json!(0)));
    assert_eq!(item_ids(&all), ids);
    for item in all["items"].as_array().unwrap() {
        assert_eq!(keys(item), product_keys());
    }

    let page = get(&app, "/api/v1/products?limit=2&offset=2", None).await.json();
    assert_eq!(item_ids(&page), ids[2..4]);
    assert_eq!((page["total"].clone(), page["limit"].clone(), page["offset"].clone()), (json!(5), json!(2), json!(2)));
    let past_the_end = get(&app, "/api/v1/products?offset=5", None).await.json();
    assert_eq!((past_the_end["items"].clone(), past_the_end["total"].clone()), (json!([]), json!(5)));
    let explicit = get(&app, "/api/v1/products?sort=-created_at&limit=100", None).await.json();
    assert_eq!(item_ids(&explicit), ids);
    let oldest_first = get(&app, "/api/v1/products?sort=created_at", None).await.json();
    assert_eq!(item_ids(&oldest_first), ids.iter().rev().cloned().collect::<Vec<_>>());
}

#[actix_web::test]
async fn pagination_out_of_range_answers_422_naming_the_parameter() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    for (query, field) in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("offset=-1", "offset")]
    {
        assert_eq!(get(&app, &format!("/api/v1/products?{query}"), None).await.fields(), [field], "{query}");
    }
}

#[actix_web::test]
async fn malformed_filters_answer_422_naming_every_parameter() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let cases = [
        ("owner_id=not-a-uuid", "owner_id"),
        ("min_price=1.5", "min_price"),
        ("min_price=", "min_price"),
        ("max_price=ten", "max_price"),
        ("in_stock=yes", "in_stock"),
        ("in_stock=1", "in_stock"),
        ("sort=popularity", "sort"),
        ("sort=--price", "sort"),
        ("sort=%2Bprice", "sort"),
    ];
    for (query, field) in cases {
        assert_eq!(get(&app, &format!("/api/v1/products?{query}"), None).await.fields(), [field], "{query}");
    }
    let everything = "owner_id=x&min_price=a&max_price=b&in_stock=maybe&sort=best&limit=0";
    let mut fields = get(&app, &format!("/api/v1/products?{everything}"), None).await.fields();
    fields.sort();
    assert_eq!(fields, ["in_stock", "limit", "max_price", "min_price", "owner_id", "sort"]);
    let inverted = get(&app, "/api/v1/products?min_price=500&max_price=499", None).await;
    assert_eq!(inverted.fields(), ["min_price"]);
    let repeated = get(&app, "/api/v1/products?sort=price&sort=name", None).await;
    assert_eq!(repeated.fields(), ["sort"]);
}

#[actix_web::test]
async fn unknown_query_parameters_are_ignored() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    create_product(&app, &seller.access, new_product("Mug", 900, 3)).await;
    let reply = get(&app, "/api/v1/products?colour=blue&page=7&utm_source=x", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["total"], 1);
}

#[actix_web::test]
async fn each_filter_keeps_what_it_says() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let kitchen = create_category(&app, &admin.access, "Kitchen").await;
    let ada = signed_up(&app, "ada@example.com").await;
    let bob = signed_up(&app, "bob@example.com").await;
    let mut by_name = HashMap::new();
    for (access, name, description, price, stock, in_kitchen) in [
        (&ada, "Blue Mug", "Glazed stoneware", 900, 3, true),
        (&ada, "Desk lamp", "Warm light, blue cable", 2500, 0, false),
        (&bob, "Teapot", "Holds 1 l; 100% porcelain", 1000, 10, true),
        (&bob, "Spade", "For the garden", 999, 1, false),
    ] {
        let mut body = json!({"name": name, "description": description, "price_cents": price, "stock": stock});
        if in_kitchen {
            body["category_ids"] = json!([kitchen["id"]]);
        }
        let created = create_product(&app, &access.access, body).await;
        by_name.insert(created["id"].as_str().unwrap().to_owned(), name);
    }
    let (app_ref, by_name_ref) = (&app, &by_name);
    let names = move |query: &str| {
        let uri = format!("/api/v1/products?sort=name&{query}");
        let (app, by_name) = (app_ref, by_name_ref);
        async move {
            let reply = get(app, &uri, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
            let body = reply.json();
            let names: Vec<&str> = item_ids(&body).iter().map(|id| by_name[id]).collect();
            assert_eq!(body["total"], names.len(), "{uri}");
            names
        }
    };

    assert_eq!(names("q=BLUE").await, ["Blue Mug", "Desk lamp"], "name or description, any case");
    assert_eq!(names("q=100%25").await, ["Teapot"], "plain text, not a pattern");
    assert_eq!(names("q=_").await, Vec::<&str>::new(), "plain text, not a pattern");
    assert_eq!(names("q=").await.len(), 4, "an empty search is no filter");
    assert_eq!(names("category=kitchen").await, ["Blue Mug", "Teapot"]);
    assert_eq!(names("category=nothing-here").await, Vec::<&str>::new());
    assert_eq!(names(&format!("owner_id={}", user_id(&bob.access))).await, ["Spade", "Teapot"]);
    assert_eq!(names(&format!("owner_id={}", uuid::Uuid::now_v7())).await, Vec::<&str>::new());
    assert_eq!(names("min_price=999&max_price=1000").await, ["Spade", "Teapot"], "inclusive");
    assert_eq!(names("min_price=1000").await, ["Desk lamp", "Teapot"]);
    assert_eq!(names("max_price=900").await, ["Blue Mug"]);
    assert_eq!(names("min_price=900&max_price=900").await, ["Blue Mug"]);
    assert_eq!(names("in_stock=true").await, ["Blue Mug", "Spade", "Teapot"]);
    assert_eq!(names("in_stock=false").await.len(), 4, "false keeps everything");
    assert_eq!(
        names("q=e&category=kitchen&in_stock=true&max_price=950").await,
        ["Blue Mug"],
        "filters combine with AND"
    );
}

#[actix_web::test]
async fn each_sort_orders_as_it_says_with_ties_by_id_and_unrated_products_last() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let fans = [signed_up(&app, "fan-1@example.com").await, signed_up(&app, "fan-2@example.com").await];
    let mut ids = HashMap::new();
    for (name, price) in [("b", 500), ("a", 700), ("c", 500), ("B", 100)] {
        let created = create_product(&app, &seller.access, new_product(name, price, 1)).await;
        ids.insert(name, created["id"].as_str().unwrap().to_owned());
    }
    // Likes: a 2, b 1, c 1, B 0. Ratings: a 2.0, c 5.0, b and B unrated.
    for fan in &fans {
        set_like(&app, &fan.access, &ids["a"], true).await;
    }
    set_like(&app, &fans[0].access, &ids["b"], true).await;
    set_like(&app, &fans[1].access, &ids["c"], true).await;
    create_review(&app, &fans[0].access, &ids["a"], 2).await;
    create_review(&app, &fans[0].access, &ids["c"], 5).await;

    let (app_ref, ids_ref) = (&app, &ids);
    let order = move |sort: &'static str| {
        let (app, ids) = (app_ref, ids_ref);
        async move {
            let body = get(app, &format!("/api/v1/products?sort={sort}"), None).await.json();
            let by_id: HashMap<&String, &str> = ids.iter().map(|(name, id)| (id, *name)).collect();
            item_ids(&body).iter().map(|id| by_id[id]).collect::<Vec<_>>()
        }
    };
    // b and c tie on price and on likes: the older (smaller id) first ascending, last descending.
    assert_eq!(order("price").await, ["B", "b", "c", "a"]);
    assert_eq!(order("-price").await, ["a", "c", "b", "B"]);
    assert_eq!(order("name").await, ["B", "a", "b", "c"], "byte order: upper case first");
    assert_eq!(order("-name").await, ["c", "b", "a", "B"]);
    assert_eq!(order("likes").await, ["B", "b", "c", "a"]);
    assert_eq!(order("-likes").await, ["a", "c", "b", "B"]);
    assert_eq!(order("rating").await, ["a", "c", "b", "B"], "unrated last");
    assert_eq!(order("-rating").await, ["c", "a", "B", "b"], "unrated last, ties by id descending");
    assert_eq!(order("created_at").await, ["b", "a", "c", "B"]);
    assert_eq!(order("-created_at").await, ["B", "c", "a", "b"]);
}

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const NAMES: [&str; 12] = [
    "Desk",
    "desk lamp",
    "Blue mug",
    "Mug",
    "Lamp shade",
    "Garden hose",
    "Zebra toy",
    "apple peeler",
    "Äpfel box",
    "Book end",
    "50% off mug",
    "snake_case sticker",
];
const DESCRIPTIONS: [&str; 7] =
    ["", "A sturdy DESK", "blue glaze", "For the garden", "Lamp included", "100% cotton", "Ünïcode ßtuff"];
const PRICES: [i64; 9] = [0, 500, 500, 999, 1000, 2500, 10_000, 99_999, 100_000_000];
const STOCKS: [i64; 5] = [0, 0, 1, 7, 1_000_000];
const SEARCHES: [&str; 11] = ["desk", "LAMP", "mug", "%", "_", "zzz", "BLUE", "äpfel", "ÄPFEL", "ßtuff", " "];
const SORTS: [&str; 10] =
    ["created_at", "-created_at", "price", "-price", "name", "-name", "likes", "-likes", "rating", "-rating"];

/// A random filter over the generated catalogue, and its query string.
fn random_filter(rng: &mut Rng, slugs: &[String], owners: &[String]) -> (ProductFilter, Vec<(String, String)>) {
    let mut filter = ProductFilter::default();
    let mut query = Vec::new();
    if rng.chance(40) {
        let q = rng.pick(&SEARCHES);
        query.push(("q".to_owned(), q.to_owned()));
        // The API treats a blank search as none.
        filter.q = Some(q.to_owned()).filter(|q| !q.trim().is_empty());
    }
    if rng.chance(35) {
        let slug = if rng.chance(85) { rng.pick(slugs) } else { "no-such-category".to_owned() };
        query.push(("category".to_owned(), slug.clone()));
        filter.category = Some(slug);
    }
    if rng.chance(30) {
        let owner = rng.pick(owners);
        query.push(("owner_id".to_owned(), owner.clone()));
        filter.owner_id = Some(UserId(owner.parse().unwrap()));
    }
    let mut bounds = [rng.chance(35).then(|| rng.pick(&PRICES)), rng.chance(35).then(|| rng.pick(&PRICES))];
    if let [Some(min), Some(max)] = bounds
        && min > max
    {
        bounds = [Some(max), Some(min)];
    }
    if let Some(min) = bounds[0] {
        query.push(("min_price".to_owned(), min.to_string()));
        filter.min_price = Some(min);
    }
    if let Some(max) = bounds[1] {
        query.push(("max_price".to_owned(), max.to_string()));
        filter.max_price = Some(max);
    }
    if rng.chance(40) {
        filter.in_stock = rng.chance(60);
        query.push(("in_stock".to_owned(), filter.in_stock.to_string()));
    }
    (filter, query)
}

#[actix_web::test]
async fn paging_through_any_filter_and_sort_yields_exactly_the_reference_order() {
    let state = state();
    let app = init_service(build_app(state.clone())).await;
    let mut rng = Rng(0x5EED_CAFE_F00D_u64);
    let admin = signed_in_admin(&app, &state).await;
    let mut category_ids = Vec::new();
    let mut slugs = Vec::new();
    for name in ["Kitchen", "Garden", "Books", "Toys"] {
        let category = create_category(&app, &admin.access, name).await;
        category_ids.push(category["id"].clone());
        slugs.push(category["slug"].as_str().unwrap().to_owned());
    }
    let mut sellers = Vec::new();
    for n in 0..3 {
        sellers.push(signed_up(&app, &format!("seller-{n}@example.com")).await);
    }
    let owners: Vec<String> = sellers.iter().map(|s| user_id(&s.access)).collect();
    let mut fans = Vec::new();
    for n in 0..4 {
        fans.push(signed_up(&app, &format!("fan-{n}@example.com")).await);
    }

    let mut ids = Vec::new();
    for _ in 0..30 {
        let categories: Vec<Value> = category_ids.iter().filter(|_| rng.chance(30)).cloned().collect();
        let body = json!({
            "name": rng.pick(&NAMES),
            "description": rng.pick(&DESCRIPTIONS),
            "price_cents": rng.pick(&PRICES),
            "stock": rng.pick(&STOCKS),
            "category_ids": categories,
        });
        let seller = rng.pick(&sellers);
        ids.push(create_product(&app, &seller.access, body).await["id"].as_str().unwrap().to_owned());
    }
    for fan in &fans {
        for id in &ids {
            if rng.chance(35) {
                set_like(&app, &fan.access, id, true).await;
            }
            if rng.chance(30) {
                create_review(&app, &fan.access, id, 1 + rng.below(5) as i64).await;
            }
        }
    }

    // The catalogue as the API shows it, one product at a time.
    let mut shown: HashMap<String, Value> = HashMap::new();
    let mut products: Vec<Product> = Vec::new();
    for id in &ids {
        let p = product(&app, id).await;
        products.push(to_domain(&p));
        shown.insert(id.clone(), p);
    }
    assert!(products.iter().any(|p| p.rating_avg.is_none()) && products.iter().any(|p| p.rating_avg.is_some()));
    assert!(products.iter().any(|p| p.stock == 0) && products.iter().any(|p| p.like_count > 1));

    let mut listings = 0;
    for round in 0..60 {
        let (filter, query) = random_filter(&mut rng, &slugs, &owners);
        let mut expected: Vec<&Product> = products.iter().filter(|p| filter.matches(p)).collect();
        for sort_name in SORTS.iter().map(|s| Some(*s)).chain([None]) {
            let sort: ProductSort = sort_name.map(|s| s.parse().unwrap()).unwrap_or_default();
            expected.sort_by(|a, b| sort.compare(a, b));
            let expected_ids: Vec<String> = expected.iter().map(|p| p.id.to_string()).collect();

            let limit = if rng.chance(15) { 100 } else { 1 + rng.below(11) };
            let mut seen: Vec<String> = Vec::new();
            let mut offset = 0;
            loop {
                let mut params = query.clone();
                if let Some(sort) = sort_name {
                    params.push(("sort".to_owned(), sort.to_owned()));
                }
                params.push(("limit".to_owned(), limit.to_string()));
                params.push(("offset".to_owned(), offset.to_string()));
                let uri = format!("/api/v1/products?{}", serde_urlencoded::to_string(&params).unwrap());
                let reply = get(&app, &uri, None).await;
                assert_eq!(reply.status, StatusCode::OK, "round {round}: {uri}: {:?}", reply.body);
                let page = reply.json();
                listings += 1;
                assert_eq!(page["total"], expected_ids.len(), "round {round}: {uri}");
                assert_eq!((page["limit"].clone(), page["offset"].clone()), (json!(limit), json!(offset)), "{uri}");
                let items = page["items"].as_array().unwrap();
                assert!(items.len() <= limit, "{uri}");
                for item in items {
                    assert_eq!(item, &shown[item["id"].as_str().unwrap()], "{uri}: an item differs from its product");
                }
                seen.extend(item_ids(&page));
                if items.is_empty() {
                    break;
                }
                offset += limit;
            }
            assert_eq!(seen, expected_ids, "round {round}: filter {filter:?}, sort {sort_name:?}, limit {limit}");
        }
    }
    assert!(listings > 600, "{listings} listings");
}
