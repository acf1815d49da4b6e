//! Idempotent placements when the database connection dies, on real PostgreSQL over real
//! HTTP: the server reaches PostgreSQL through a `TcpProxy` the test cuts. An order and its
//! key's response commit together, so a connection lost with the commit in flight is
//! answered by a replay of the committed order, and clients retrying with their own keys
//! through connection losses place each order at most once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use storefront_server::{Application, RunEnv, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::proxy::{Cut, TcpProxy, host_and_port};

const PASSWORD: &str = "faults are not failures";

struct TestApp {
    base: String,
    client: reqwest::Client,
    proxy: TcpProxy,
    db: TestDatabase,
    /// Held for the whole test, so that the two tests do not contend for the machine.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A response read in full, or the transport error (a response lost on the way).
struct Reply {
    status: StatusCode,
    replayed: bool,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The server, reaching its own database through a proxy; keys whose first request failed
/// and could not be released are given up after `abandon_after_secs`.
async fn spawn_app(abandon_after_secs: i64) -> TestApp {
    let turn = TURN.lock().await;
    let db = TestDatabase::create().await;
    let proxy = TcpProxy::start(&host_and_port(&db.url)).await;
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = Some(proxy.url_through(&db.url));
    settings.auth.jwt_secret = Some("a-fault-injection-test-secret-32-bytes!".into());
    settings.events.dispatch_in_process = false;
    settings.orders.idempotency_abandon_after_secs = abandon_after_secs;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    TestApp { base, client, proxy, db, _turn: turn }
}

impl TestApp {
    async fn user(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD, "name": "Buyer"});
        let response = self.client.post(format!("{}/api/v1/users", self.base)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let login = json!({"email": email, "password": PASSWORD});
        let response = self.client.post(format!("{}/api/v1/auth/login", self.base)).json(&login).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    async fn product(&self, seller: &str, stock: i64) -> String {
        let body = json!({"name": "Pen", "price_cents": 250, "stock": stock});
        let url = format!("{}/api/v1/products", self.base);
        let response = self.client.post(url).bearer_auth(seller).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    async fn stock(&self, product: &str) -> i64 {
        let response = self.client.get(format!("{}/api/v1/products/{product}", self.base)).send().await.unwrap();
        response.json::<Value>().await.unwrap()["stock"].as_i64().unwrap()
    }

    /// Places an order of `quantity` units with an idempotency key; `None` when the response
    /// was lost on the way.
    async fn order(&self, buyer: &str, product: &str, quantity: i64, key: &str) -> Option<Reply> {
        let body = json!({"items": [{"product_id": product, "quantity": quantity}]});
        let url = format!("{}/api/v1/orders", self.base);
        let sent = self.client.post(url).bearer_auth(buyer).header("Idempotency-Key", key).json(&body).send().await;
        let response = sent.ok()?;
        let status = response.status();
        let replayed = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        Some(Reply { status, replayed, body: response.bytes().await.ok()?.to_vec() })
    }

    /// Every order of the buyer's.
    async fn orders_of(&self, buyer: &str) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let url = format!("{}/api/v1/orders?limit=100&offset={}", self.base, all.len());
            let page: Value = self.client.get(url).bearer_auth(buyer).send().await.unwrap().json().await.unwrap();
            let items = page["items"].as_array().unwrap().clone();
            let done = items.len() < 100;
            all.extend(items);
            if done {
                return all;
            }
        }
    }
}

/// Makes every commit of a transaction that inserted an order take `seconds` (a deferred
/// trigger runs at commit time), so that a test can act while a placement's commit is in
/// flight.
async fn slow_order_commits(db: &TestDatabase, seconds: f64) {
    db.execute(&format!(
        "CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON orders
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit();"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_with_the_commit_in_flight_is_answered_by_a_replay_of_the_committed_order() {
    let app = spawn_app(60).await;
    let seller = app.user("seller@example.com").await;
    let buyer = app.user("buyer@example.com").await;
    let product = app.product(&seller, 10).await;
    slow_order_commits(&app.db, 1.0).await;

    let first = {
        let placing = app.order(&buyer, &product, 3, "lost-commit");
        let cutting = async {
            let deadline = Instant::now() + Duration::from_secs(5);
            while app.db.running("COMMIT").await == 0 {
                assert!(Instant::now() < deadline, "the placement never reached its commit");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // The server loses PostgreSQL with the COMMIT sent: the transaction commits,
            // the server never hears so.
            app.proxy.cut(Cut::Refuse);
        };
        let (first, ()) = tokio::join!(placing, cutting);
        first.expect("the server answers even when it loses the database")
    };
    assert!(first.status.is_server_error(), "{}: {}", first.status, String::from_utf8_lossy(&first.body));
    app.proxy.restore();

    // The client retries with the same key until the server can answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let retry = loop {
        let reply = app.order(&buyer, &product, 3, "lost-commit").await;
        match reply {
            Some(reply) if !reply.status.is_server_error() => break reply,
            _ => assert!(Instant::now() < deadline, "no answer to the retry in time"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(retry.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&retry.body));
    assert!(retry.replayed, "the committed order is replayed, not placed again");
    let orders = app.orders_of(&buyer).await;
    assert_eq!(orders.len(), 1, "exactly one order");
    assert_eq!(retry.json()["id"], orders[0]["id"], "the replay is the committed order");
    assert_eq!(app.stock(&product).await, 7, "its stock was taken once");
    let again = app.order(&buyer, &product, 3, "lost-commit").await.unwrap();
    assert_eq!((again.status, again.replayed, &again.body), (StatusCode::CREATED, true, &retry.body), "byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_retrying_with_their_own_keys_through_lost_connections_place_each_order_at_most_once() {
    // A key whose first request failed and could not even be released is given up after
    // a second, so that its client's retries go through within the test.
    let app = spawn_app(1).await;
    let seller = app.user("seller@example.com").await;
    const STOCK: i64 = 100_000;
    let product = app.product(&seller, STOCK).await;
    let buyers: Vec<String> = join_all((0..8).map(|i| {
        let app = &app;
        async move { app.user(&format!("buyer-{i}@example.com")).await }
    }))
    .await;

    let load_for = Duration::from_secs(4);
    let started = Instant::now();
    // Each client places orders one after the other for `load_for`, each under a key of its
    // own, retried on a 5xx, a lost response or a 409 (its first request still running)
    // until it is answered: (key, order id of every 201, quantity).
    let clients = buyers.iter().enumerate().map(|(c, buyer)| {
        let (app, product) = (&app, &product);
        async move {
            let mut placed: Vec<(String, HashSet<String>, i64)> = Vec::new();
            let mut n = 0;
            while started.elapsed() < load_for {
                n += 1;
                let key = format!("client-{c}-order-{n}");
                let quantity = 1 + (n % 3);
                let deadline = Instant::now() + Duration::from_secs(15);
                let mut ids = HashSet::new();
                loop {
                    assert!(Instant::now() < deadline, "{key} was never answered");
                    match app.order(buyer, product, quantity, &key).await {
                        Some(reply) if reply.status == StatusCode::CREATED => {
                            ids.insert(reply.json()["id"].as_str().unwrap().to_owned());
                            // Once more after a first answer: its replay must name the same order.
                            if reply.replayed || ids.len() > 1 {
                                break;
                            }
                            continue;
                        }
                        Some(reply) if reply.status.is_server_error() || reply.status == StatusCode::CONFLICT => {}
                        Some(reply) => panic!("{key}: {} {}", reply.status, String::from_utf8_lossy(&reply.body)),
                        None => {}
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                placed.push((key, ids, quantity));
            }
            placed
        }
    });
    // Meanwhile the server loses its database three times.
    let outages = async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            app.proxy.cut(Cut::Refuse);
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.proxy.restore();
        }
    };
    let (placed, ()) = tokio::join!(join_all(clients), outages);

    let mut known: HashMap<String, i64> = HashMap::new();
    for (key, ids, quantity) in placed.into_iter().flatten() {
        assert_eq!(ids.len(), 1, "{key} answered more than one order: {ids:?}");
        known.extend(ids.into_iter().map(|id| (id, quantity)));
    }
    let mut sold = 0;
    let mut orders = 0;
    for buyer in &buyers {
        for order in app.orders_of(buyer).await {
            let id = order["id"].as_str().unwrap();
            assert!(known.contains_key(id), "order {id} was placed for no key's answer (a key placed twice)");
            sold += order["items"][0]["quantity"].as_i64().unwrap();
            orders += 1;
        }
    }
    assert_eq!(orders, known.len(), "every answered key has its order, once");
    assert!(orders >= 8, "the load placed orders ({orders})");
    assert_eq!(sold, known.values().sum::<i64>());
    assert_eq!(app.stock(&product).await, STOCK - sold, "stock is conserved");
}
