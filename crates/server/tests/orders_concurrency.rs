//! Orders under concurrency on real PostgreSQL, over real HTTP: the real server on a random
//! loopback port, hammered by many clients at once. No oversell, no deadlock surfacing as a
//! 5xx, units conserved, idempotency keys claimed once, and refused orders leave no trace.
//! `.ci/run` runs this file five times.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use storefront_server::{Application, RunEnv, Settings};
use storefront_testkit::database::TestDatabase;

const PASSWORD: &str = "concurrency is not parallelism";

struct TestApp {
    base: String,
    client: reqwest::Client,
    _db: TestDatabase,
}

/// A response read in full.
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn spawn_app() -> TestApp {
    let db = TestDatabase::create().await;
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = Some(db.url.clone());
    settings.auth.jwt_secret = Some("an-end-to-end-test-secret-of-32-bytes!".into());
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp { base, client: reqwest::Client::new(), _db: db }
}

impl TestApp {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    /// Registers `email` and logs it in; answers its access token.
    async fn user(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD, "name": "Buyer"});
        let response = self.client.post(format!("{}/api/v1/users", self.base)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let login = json!({"email": email, "password": PASSWORD});
        let response = self.client.post(format!("{}/api/v1/auth/login", self.base)).json(&login).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a product of the seller's; answers its id.
    async fn product(&self, seller: &str, name: &str, price_cents: i64, stock: i64) -> String {
        let body = json!({"name": name, "price_cents": price_cents, "stock": stock});
        let reply = self.call(reqwest::Method::POST, "/api/v1/products", seller, Some(&body), None).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    async fn stock(&self, product: &str) -> i64 {
        let response = self.client.get(format!("{}/api/v1/products/{product}", self.base)).send().await.unwrap();
        response.json::<Value>().await.unwrap()["stock"].as_i64().unwrap()
    }

    async fn order(&self, buyer: &str, lines: Vec<(&str, i64)>, key: Option<&str>) -> Reply {
        let items: Vec<Value> = lines.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect();
        self.call(reqwest::Method::POST, "/api/v1/orders", buyer, Some(&json!({ "items": items })), key).await
    }

    async fn cancel(&self, buyer: &str, order: &str) -> Reply {
        self.call(reqwest::Method::POST, &format!("/api/v1/orders/{order}/cancel"), buyer, None, None).await
    }

    /// Every order of the buyer's, newest first.
    async fn orders_of(&self, buyer: &str) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let path = format!("/api/v1/orders?limit=100&offset={}", all.len());
            let page = self.call(reqwest::Method::GET, &path, buyer, None, None).await.json();
            let items = page["items"].as_array().unwrap().clone();
            let done = items.len() < 100;
            all.extend(items);
            if done {
                return all;
            }
        }
    }
}

/// Units of each product held by orders that are not cancelled.
fn units_held(orders: &[Value]) -> HashMap<String, i64> {
    let mut held = HashMap::new();
    for order in orders.iter().filter(|o| o["status"] != "cancelled") {
        for line in order["items"].as_array().unwrap() {
            *held.entry(line["product_id"].as_str().unwrap().to_owned()).or_default() +=
                line["quantity"].as_i64().unwrap();
        }
    }
    held
}

/// `n` buyers, registered and logged in at once.
async fn buyers(app: &TestApp, n: usize, prefix: &str) -> Vec<String> {
    join_all((0..n).map(|i| {
        let email = format!("{prefix}-{i}@example.com");
        async move { app.user(&email).await }
    }))
    .await
}

fn no_server_errors(replies: &[Reply]) {
    for reply in replies {
        assert!(!reply.status.is_server_error(), "{}: {}", reply.status, String::from_utf8_lossy(&reply.body));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_single_unit_orders_from_twenty_users_sell_exactly_the_twenty_five_in_stock() {
    let app = spawn_app().await;
    let seller = app.user("seller@example.com").await;
    let product = app.product(&seller, "Limited edition", 4_999, 25).await;
    let buyers = buyers(&app, 20, "buyer").await;

    let attempts = (0..200).map(|i| app.order(&buyers[i % buyers.len()], vec![(product.as_str(), 1)], None));
    let replies = join_all(attempts).await;

    no_server_errors(&replies);
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::CONFLICT).collect();
    assert_eq!((created, refused.len()), (25, 175));
    for reply in refused {
        let problem = reply.json();
        assert_eq!(problem["code"], "insufficient_stock");
        assert_eq!(problem["errors"][0]["available"], 0);
        assert_eq!(problem["errors"][0]["requested"], 1);
    }
    assert_eq!(app.stock(&product).await, 0);
    let mut sold = 0;
    for buyer in &buyers {
        sold += units_held(&app.orders_of(buyer).await).get(&product).copied().unwrap_or(0);
    }
    assert_eq!(sold, 25, "the orders hold exactly the units sold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_for_two_products_in_opposite_orders_never_deadlock_into_an_error() {
    let app = spawn_app().await;
    let seller = app.user("seller@example.com").await;
    let a = app.product(&seller, "A", 100, 1_000).await;
    let b = app.product(&seller, "B", 200, 1_000).await;
    let buyers = buyers(&app, 8, "buyer").await;

    let attempts = (0..120).map(|i| {
        let lines =
            if i % 2 == 0 { vec![(a.as_str(), 3), (b.as_str(), 2)] } else { vec![(b.as_str(), 2), (a.as_str(), 3)] };
        app.order(&buyers[i % buyers.len()], lines, None)
    });
    let replies = join_all(attempts).await;

    no_server_errors(&replies);
    assert!(replies.iter().all(|r| r.status == StatusCode::CREATED));
    assert_eq!((app.stock(&a).await, app.stock(&b).await), (1_000 - 120 * 3, 1_000 - 120 * 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_concurrent_mix_of_orders_and_cancellations_conserves_every_products_units() {
    let app = spawn_app().await;
    let seller = app.user("seller@example.com").await;
    let initial = [40, 25, 60, 10];
    let mut products = Vec::new();
    for (i, stock) in initial.iter().enumerate() {
        products.push(app.product(&seller, &format!("P{i}"), 150 + i as i64, *stock).await);
    }
    let buyers = buyers(&app, 10, "buyer").await;
    // A fixed LCG: a failure replays.
    let mut seed: u64 = 0x05ee_d0f0_d3a5;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    /// One buyer's order (product indexes and quantities), and whether it then cancels it.
    struct Plan {
        buyer: usize,
        lines: Vec<(usize, i64)>,
        cancel: bool,
    }
    let plans: Vec<Plan> = (0..80)
        .map(|i| {
            let first = next(4) as usize;
            let mut lines = vec![(first, 1 + next(6) as i64)];
            if next(2) == 0 {
                lines.push(((first + 1 + next(3) as usize) % 4, 1 + next(4) as i64));
            }
            Plan { buyer: i % buyers.len(), lines, cancel: next(3) == 0 }
        })
        .collect();

    let app = &app;
    let runs = plans.iter().map(|plan| {
        let buyer = &buyers[plan.buyer];
        let cancel_it = plan.cancel;
        let lines: Vec<(&str, i64)> = plan.lines.iter().map(|&(p, q)| (products[p].as_str(), q)).collect();
        async move {
            let placed = app.order(buyer, lines, None).await;
            let mut replies = Vec::new();
            if placed.status == StatusCode::CREATED && cancel_it {
                let id = placed.json()["id"].as_str().unwrap().to_owned();
                replies.push(app.cancel(buyer, &id).await);
            }
            replies.push(placed);
            replies
        }
    });
    let replies: Vec<Reply> = join_all(runs).await.into_iter().flatten().collect();

    no_server_errors(&replies);
    assert!(replies.iter().all(|r| [StatusCode::CREATED, StatusCode::OK, StatusCode::CONFLICT].contains(&r.status)));
    let mut orders = Vec::new();
    for buyer in &buyers {
        orders.extend(app.orders_of(buyer).await);
    }
    let held = units_held(&orders);
    for (product, initial) in products.iter().zip(initial) {
        let stock = app.stock(product).await;
        assert!(stock >= 0);
        assert_eq!(stock + held.get(product).copied().unwrap_or(0), initial, "product {product}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_requests_with_one_idempotency_key_place_one_order_and_the_others_replay_or_wait() {
    let app = spawn_app().await;
    let seller = app.user("seller@example.com").await;
    let product = app.product(&seller, "Once", 700, 50).await;
    let buyer = app.user("buyer@example.com").await;

    let replies =
        join_all((0..10).map(|_| app.order(&buyer, vec![(product.as_str(), 2)], Some("checkout-7f3a")))).await;

    no_server_errors(&replies);
    let firsts: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED && !r.headers.contains_key("idempotent-replayed"))
        .collect();
    assert_eq!(firsts.len(), 1, "exactly one request ran");
    for reply in &replies {
        match reply.status {
            StatusCode::CREATED => assert_eq!(reply.body, firsts[0].body, "a replay is the first body byte for byte"),
            StatusCode::CONFLICT => assert_eq!(reply.json()["code"], "conflict"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(app.orders_of(&buyer).await.len(), 1);
    assert_eq!(app.stock(&product).await, 48);

    let replay = app.order(&buyer, vec![(product.as_str(), 2)], Some("checkout-7f3a")).await;
    assert_eq!((replay.status, &replay.body), (StatusCode::CREATED, &firsts[0].body));
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.headers["location"], firsts[0].headers["location"]);
    let other = app.order(&buyer, vec![(product.as_str(), 3)], Some("checkout-7f3a")).await;
    assert_eq!(
        (other.status, other.json()["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("idempotency_key_reused"))
    );
    assert_eq!(app.stock(&product).await, 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_line_order_with_one_short_line_leaves_no_trace() {
    let app = spawn_app().await;
    let seller = app.user("seller@example.com").await;
    let plenty = app.product(&seller, "Plenty", 100, 100).await;
    let scarce = app.product(&seller, "Scarce", 100, 2).await;
    let also = app.product(&seller, "Also plenty", 100, 100).await;
    let buyer = app.user("buyer@example.com").await;

    let reply = app.order(&buyer, vec![(plenty.as_str(), 10), (scarce.as_str(), 3), (also.as_str(), 10)], None).await;

    assert_eq!(reply.status, StatusCode::CONFLICT);
    let problem = reply.json();
    assert_eq!(problem["code"], "insufficient_stock");
    assert_eq!(
        problem["errors"],
        json!([{
            "field": "items[1].quantity", "message": "only 2 in stock, 3 requested",
            "product_id": scarce, "requested": 3, "available": 2
        }])
    );
    assert_eq!((app.stock(&plenty).await, app.stock(&scarce).await, app.stock(&also).await), (100, 2, 100));
    assert!(app.orders_of(&buyer).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_cancellations_of_one_order_cancel_it_once_and_give_the_stock_back_once() {
    let app = spawn_app().await;
    let seller = app.user("seller@example.com").await;
    let product = app.product(&seller, "Returned", 100, 10).await;
    let buyer = app.user("buyer@example.com").await;
    for _ in 0..5 {
        let order =
            app.order(&buyer, vec![(product.as_str(), 4)], None).await.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(app.stock(&product).await, 6);

        let replies = join_all((0..4).map(|_| app.cancel(&buyer, &order))).await;

        no_server_errors(&replies);
        let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
            assert_eq!(
                (reply.status, reply.json()["code"].clone()),
                (StatusCode::CONFLICT, json!("invalid_transition"))
            );
        }
        assert_eq!(app.stock(&product).await, 10, "the stock came back exactly once");
    }
}
