//! Events through Redis with the real `storefront worker` binary, on PostgreSQL, Redis and a
//! real SMTP server: register, order and drive a product's stock below the threshold
//! through the API; the welcome, the order confirmation and the low-stock alert arrive once
//! each — also when a worker is killed in between and another takes over. A worker told to
//! stop exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::json;
use std::process::{Child, Command};
use std::time::Duration;
use storefront_server::RunEnv;
use storefront_server::settings::{MailBackend, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::smtp::{ReceivedMail, SmtpSink};
use support::Api;

mod support;

const PASSWORD: &str = "streams carry the load 7";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The API server (in this process), the settings every process shares, and what they use.
struct Deployment {
    api: Api,
    smtp: SmtpSink,
    /// Kept for the test's length: dropping it drops the database.
    _db: TestDatabase,
}

impl std::ops::Deref for Deployment {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Deployment {
    async fn start() -> Self {
        let db = TestDatabase::create().await;
        let smtp = SmtpSink::start();
        let mut settings = Settings::load_for(RunEnv::Test).unwrap();
        settings.server.host = "127.0.0.1".into();
        settings.server.port = 0;
        settings.server.workers = 1;
        settings.database.url = Some(db.url.clone());
        settings.auth.jwt_secret = Some("an-end-to-end-test-secret-of-32-bytes!".into());
        settings.redis.url = Some(redis_url());
        settings.redis.key_prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
        settings.mail.backend = MailBackend::Smtp;
        settings.mail.smtp_port = smtp.port;
        settings.mail.from = "Storefront <no-reply@storefront.test>".into();
        Self { api: Api::spawn(settings, PASSWORD).await, smtp, _db: db }
    }

    /// `storefront worker` with the same configuration, through the environment as a
    /// deployment would give it.
    fn worker(&self) -> Child {
        self.api.worker_command().env("STOREFRONT__EVENTS__CLAIM_IDLE_MS", "1000").spawn().unwrap()
    }

    /// Waits (at most ten seconds) until the workers' group has no entry unacknowledged.
    async fn wait_until_nothing_pending(&self) {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let stream = storefront_redis::stream_key(&self.settings.redis.key_prefix, &self.settings.events.stream);
        for _ in 0..200 {
            let summary: redis::Value = redis::cmd("XPENDING")
                .arg(&stream)
                .arg(&self.settings.events.group)
                .query_async(&mut conn)
                .await
                .unwrap();
            let pending = match summary {
                redis::Value::Array(items) => match items.first() {
                    Some(redis::Value::Int(n)) => *n,
                    _ => 0,
                },
                _ => 0,
            };
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("entries stayed unacknowledged");
    }

    /// Deletes the test's Redis keys.
    async fn clean_redis(&self) {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let pattern = format!("{}*", self.settings.redis.key_prefix);
        let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await.unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap();
        }
    }
}

fn subject(mail: &ReceivedMail) -> String {
    mail.header("Subject").unwrap_or_default()
}

fn to(mail: &ReceivedMail) -> String {
    mail.header("To").unwrap_or_default()
}

/// Sends SIGTERM and waits (at most `within`) for the exit; the exit code.
fn terminate(child: &mut Child, within: Duration) -> Option<i32> {
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_mails_arrive_once_each_also_when_a_worker_is_killed_in_between() {
    let deployment = Deployment::start().await;
    deployment.create_with_role("analyst@example.com", "Ann Analyst", "moderator").await;
    let seller = deployment.register("seller@example.com", "Sam Seller").await;
    let mut first = deployment.worker();

    let buyer = deployment.register("buyer@example.com", "Bea Buyer").await;
    let welcomes = deployment.smtp.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(welcomes.len(), 3, "the analyst's, the seller's and the buyer's welcome");
    assert!(welcomes.iter().any(|m| to(m) == "\"Bea Buyer\" <buyer@example.com>"));

    // Once the worker has finished with every entry (sent, recorded, acknowledged), it dies;
    // events go on being written to the outbox meanwhile.
    deployment.wait_until_nothing_pending().await;
    first.kill().unwrap();
    first.wait().unwrap();
    let body = json!({"name": "Brass lamp", "price_cents": 2_500, "stock": 7});
    let (_, product) = deployment.call(reqwest::Method::POST, "/api/v1/products", Some(&seller), Some(body)).await;
    let body = json!({"items": [{"product_id": product["id"], "quantity": 3}]});
    let (status, order) = deployment.call(reqwest::Method::POST, "/api/v1/orders", Some(&buyer), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);

    let mut second = deployment.worker();
    deployment.smtp.wait_for(5, Duration::from_secs(20)).await;
    // Anything sent twice would have arrived by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = deployment.smtp.messages();

    assert_eq!(mails.len(), 5, "{:?}", mails.iter().map(subject).collect::<Vec<_>>());
    let confirmations: Vec<&ReceivedMail> = mails.iter().filter(|m| subject(m).starts_with("Your order")).collect();
    assert_eq!(confirmations.len(), 1);
    assert_eq!(to(confirmations[0]), "\"Bea Buyer\" <buyer@example.com>");
    assert!(subject(confirmations[0]).contains(order["id"].as_str().unwrap()));
    let alerts: Vec<&ReceivedMail> = mails.iter().filter(|m| subject(m).starts_with("Low stock")).collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(to(alerts[0]), "\"Ann Analyst\" <analyst@example.com>");
    assert_eq!(subject(alerts[0]), "Low stock: Brass lamp (4 left)");

    assert_eq!(terminate(&mut second, Duration::from_secs(15)), Some(0), "a worker told to stop exits 0");
    deployment.clean_redis().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_a_database_refuses_to_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_storefront"))
        .arg("worker")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STOREFRONT_ENV", "test")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs PostgreSQL"));
}
