//! Events survive Redis losing its data. The real API server and two real `storefront
//! worker` processes share a private `redis-server` (its own port, no persistence) and a
//! real SMTP server; clients place orders for a few seconds, and in the middle Redis is
//! restarted empty — or `FLUSHALL`ed. Afterwards every order placed has exactly one
//! confirmation mail, and the same two workers delivered them: they recovered by
//! themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storefront_server::RunEnv;
use storefront_server::settings::{MailBackend, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::redis::RedisServer;
use storefront_testkit::smtp::SmtpSink;
use support::Api;

mod support;

const PASSWORD: &str = "redis forgets, postgres owes 9";

/// How long the clients place orders, and when in that time Redis loses its data.
const LOAD: Duration = Duration::from_secs(5);
const FAULT_AFTER: Duration = Duration::from_secs(2);
const CLIENTS: usize = 4;

struct Deployment {
    api: Api,
    smtp: SmtpSink,
    /// Kept for the test's length: dropping it drops the database.
    _db: TestDatabase,
    /// Behind a lock so that the fault, which runs while clients borrow the deployment,
    /// can restart it.
    redis: std::sync::Mutex<RedisServer>,
    redis_url: String,
    workers: Vec<Child>,
}

impl Deployment {
    async fn start() -> Self {
        let redis = RedisServer::start();
        let db = TestDatabase::create().await;
        let smtp = SmtpSink::start();
        let mut settings = Settings::load_for(RunEnv::Test).unwrap();
        settings.server.host = "127.0.0.1".into();
        settings.server.port = 0;
        settings.server.workers = 2;
        settings.database.url = Some(db.url.clone());
        settings.auth.jwt_secret = Some("a-redis-fault-test-secret-of-32-bytes!".into());
        let redis_url = redis.url();
        settings.redis.url = Some(redis_url.clone());
        settings.mail.backend = MailBackend::Smtp;
        settings.mail.smtp_port = smtp.port;
        settings.mail.from = "Storefront <no-reply@storefront.test>".into();
        let api = Api::spawn(settings, PASSWORD).await;
        let redis = std::sync::Mutex::new(redis);
        let mut deployment = Self { api, smtp, _db: db, redis, redis_url, workers: Vec::new() };
        deployment.workers = (0..2).map(|_| deployment.worker()).collect();
        deployment
    }

    /// `storefront worker` as a deployment runs it, with short waits so the test is quick.
    /// The redelivery lease is short too: it covers the one window the stream's epoch
    /// cannot (a batch published into the old stream whose publication is recorded after
    /// another relay already re-sent everything).
    fn worker(&self) -> Child {
        self.api
            .worker_command()
            .env("STOREFRONT__EVENTS__CLAIM_IDLE_MS", "3000")
            .env("STOREFRONT__EVENTS__REDELIVER_AFTER_SECS", "10")
            .spawn()
            .unwrap()
    }

    /// A customer with a token, and a product with stock for the whole load.
    async fn shop(&self) -> (Vec<String>, String) {
        let seller = self.api.register("seller@example.com", "Sam Seller").await;
        let body = json!({"name": "Paper clip", "price_cents": 5, "stock": 1_000_000});
        let (status, product) =
            self.api.call(reqwest::Method::POST, "/api/v1/products", Some(&seller), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED);
        let mut buyers = Vec::new();
        for i in 0..CLIENTS {
            buyers.push(self.api.register(&format!("buyer-{i}@example.com"), "Bea Buyer").await);
        }
        (buyers, product["id"].as_str().unwrap().to_owned())
    }

    /// Clients place orders for `LOAD`; `fault` runs `FAULT_AFTER` in. Answers the ids of
    /// every order the server acknowledged (201).
    async fn place_orders_while(&self, fault: impl std::future::Future<Output = ()>) -> Vec<String> {
        let (buyers, product) = self.shop().await;
        let base = Arc::new(self.api.base.clone());
        let clients: Vec<_> = buyers
            .into_iter()
            .map(|token| {
                let (base, product) = (Arc::clone(&base), product.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let started = Instant::now();
                    let mut placed = Vec::new();
                    while started.elapsed() < LOAD {
                        let body = json!({"items": [{"product_id": product, "quantity": 1}]});
                        let response =
                            client.post(format!("{base}/api/v1/orders")).bearer_auth(&token).json(&body).send().await;
                        let Ok(response) = response else { continue };
                        if response.status() == StatusCode::CREATED {
                            let order: serde_json::Value = response.json().await.unwrap();
                            placed.push(order["id"].as_str().unwrap().to_owned());
                        }
                    }
                    placed
                })
            })
            .collect();
        tokio::time::sleep(FAULT_AFTER).await;
        fault.await;
        let mut placed = Vec::new();
        for client in clients {
            placed.extend(client.await.unwrap());
        }
        placed
    }

    /// Waits (at most `within`) until `count` mails have arrived.
    async fn wait_for_mails(&self, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.smtp.count() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every order has exactly one confirmation, and no other confirmation arrived.
    async fn assert_each_order_confirmed_once(&self, placed: &[String]) {
        // The seller's and the buyers' welcomes, and a confirmation per order.
        let expected = 1 + CLIENTS + placed.len();
        self.wait_for_mails(expected, Duration::from_secs(120)).await;
        // Anything sent twice would have arrived by now.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut confirmations: HashMap<String, usize> = HashMap::new();
        for mail in self.smtp.messages() {
            let subject = mail.header("Subject").unwrap_or_default();
            if let Some(order) = subject.strip_prefix("Your order ").and_then(|s| s.strip_suffix(" is confirmed")) {
                *confirmations.entry(order.to_owned()).or_default() += 1;
            }
        }
        let missing: Vec<&String> = placed.iter().filter(|id| !confirmations.contains_key(*id)).collect();
        let twice: Vec<(&String, &usize)> = confirmations.iter().filter(|(_, n)| **n > 1).collect();
        assert!(missing.is_empty(), "{} of {} orders never confirmed", missing.len(), placed.len());
        assert!(twice.is_empty(), "orders confirmed more than once: {twice:?}");
        assert_eq!(confirmations.len(), placed.len(), "confirmations of orders nobody placed");
        eprintln!("{} orders placed, each confirmed once", placed.len());
    }

    /// The workers are the ones started before the fault: none exited.
    fn assert_workers_still_running(&mut self) {
        for worker in &mut self.workers {
            assert!(worker.try_wait().unwrap().is_none(), "a worker exited");
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.kill();
            let _ = worker.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarted_empty_mid_load_every_order_is_mailed_exactly_once() {
    let mut deployment = Deployment::start().await;
    let placed = deployment
        .place_orders_while(async {
            // Killed and started again on the same port, without persistence: all gone.
            deployment.redis.lock().unwrap().restart();
        })
        .await;
    assert!(placed.len() > 20, "the load placed only {} orders", placed.len());

    deployment.assert_each_order_confirmed_once(&placed).await;
    deployment.assert_workers_still_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_flushed_mid_load_every_order_is_mailed_exactly_once() {
    let mut deployment = Deployment::start().await;
    let placed = deployment
        .place_orders_while(async {
            let client = redis::Client::open(deployment.redis_url.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
        })
        .await;
    assert!(placed.len() > 20, "the load placed only {} orders", placed.len());

    deployment.assert_each_order_confirmed_once(&placed).await;
    deployment.assert_workers_still_running();
}
