//! Events without a stream, over real HTTP on PostgreSQL: the server handles its outbox
//! in-process, so registering, ordering and running a product low send the welcome, the
//! confirmation and the low-stock alert to a real SMTP server, once each; a mail that cannot
//! be sent is retried, then dead-lettered, listed and put back through the admin endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use storefront_server::RunEnv;
use storefront_server::settings::{MailBackend, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::smtp::{ReceivedMail, SmtpSink};
use support::Api;

mod support;

const PASSWORD: &str = "events travel light 9";

struct TestApp {
    api: Api,
    _db: TestDatabase,
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

async fn spawn_app(smtp_port: u16, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::create().await;
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 1;
    settings.database.url = Some(db.url.clone());
    settings.auth.jwt_secret = Some("an-end-to-end-test-secret-of-32-bytes!".into());
    settings.mail.backend = MailBackend::Smtp;
    settings.mail.smtp_port = smtp_port;
    settings.mail.from = "Storefront <no-reply@storefront.test>".into();
    settings.events.poll_interval_ms = 50;
    configure(&mut settings);
    TestApp { api: Api::spawn(settings, PASSWORD).await, _db: db }
}

impl TestApp {
    /// An account holding `role`, made through the services, logged in.
    async fn with_role(&self, email: &str, name: &str, role: &str) -> String {
        self.create_with_role(email, name, role).await;
        self.login(email).await
    }
}

fn to(mail: &ReceivedMail) -> String {
    mail.header("To").unwrap_or_default()
}

fn subject(mail: &ReceivedMail) -> String {
    mail.header("Subject").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_ordering_and_running_low_send_each_mail_once_to_the_right_people() {
    let sink = SmtpSink::start();
    let app = spawn_app(sink.port, |_| {}).await;
    let seller = app.register("seller@example.com", "Sam Seller").await;
    let buyer = app.register("buyer@example.com", "Bea Buyer").await;
    app.with_role("analyst@example.com", "Ann Analyst", "moderator").await;
    let welcomes = sink.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(welcomes.len(), 3);
    assert!(welcomes.iter().all(|m| subject(m) == "Welcome to Storefront"));
    assert!(welcomes.iter().any(|m| to(m) == "\"Bea Buyer\" <buyer@example.com>"));

    let body = json!({"name": "Brass lamp", "price_cents": 2_500, "stock": 7});
    let (_, product) = app.call(reqwest::Method::POST, "/api/v1/products", Some(&seller), Some(body)).await;
    // 7 → 4, below the threshold of 5: a confirmation and an alert.
    let body = json!({"items": [{"product_id": product["id"], "quantity": 3}]});
    let (status, order) = app.call(reqwest::Method::POST, "/api/v1/orders", Some(&buyer), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    // 4 → 2: already low, nothing more.
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let (status, _) = app.call(reqwest::Method::PATCH, &path, Some(&seller), Some(json!({"stock": 2}))).await;
    assert_eq!(status, StatusCode::OK);

    sink.wait_for(5, Duration::from_secs(10)).await;
    // Anything sent twice would have arrived by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails: Vec<ReceivedMail> = sink.messages().into_iter().skip(3).collect();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let confirmation = mails.iter().find(|m| subject(m).starts_with("Your order")).unwrap();
    assert_eq!(to(confirmation), "\"Bea Buyer\" <buyer@example.com>");
    assert_eq!(subject(confirmation), format!("Your order {} is confirmed", order["id"].as_str().unwrap()));
    assert!(confirmation.body().contains("3 × Brass lamp at 25.00 USD = 75.00 USD"), "{}", confirmation.body());
    assert!(confirmation.body().contains("Total: 75.00 USD"));
    let alert = mails.iter().find(|m| subject(m).starts_with("Low stock")).unwrap();
    assert_eq!(to(alert), "\"Ann Analyst\" <analyst@example.com>", "only holders of analytics:read");
    assert_eq!(subject(alert), "Low stock: Brass lamp (4 left)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_that_cannot_be_sent_is_retried_then_dead_lettered_and_can_be_put_back() {
    // No SMTP server listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app(closed, |s| {
        s.events.max_attempts = 2;
        s.events.retry_base_ms = 20;
        s.events.retry_max_ms = 20;
    })
    .await;
    let analyst = app.with_role("analyst@example.com", "Ann Analyst", "moderator").await;
    app.register("buyer@example.com", "Bea Buyer").await;

    let mut dead = Value::Null;
    for _ in 0..100 {
        let (status, page) =
            app.call(reqwest::Method::GET, "/api/v1/admin/events/dead-letters", Some(&analyst), None).await;
        assert_eq!(status, StatusCode::OK);
        if page["total"] == 2 {
            dead = page;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead["total"], 2, "both welcomes are dead letters: {dead}");
    let letter =
        dead["items"].as_array().unwrap().iter().find(|d| d["payload"]["email"] == "buyer@example.com").unwrap();
    assert_eq!((letter["type"].as_str(), letter["attempts"].as_i64()), (Some("user.registered"), Some(2)));
    assert!(letter["error"].as_str().is_some_and(|e| e.starts_with("mail not sent")), "{letter}");

    let id = letter["id"].as_str().unwrap();
    let path = format!("/api/v1/admin/events/dead-letters/{id}/retry");
    let (status, _) = app.call(reqwest::Method::POST, &path, Some(&analyst), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let unknown = format!("/api/v1/admin/events/dead-letters/{}/retry", uuid::Uuid::now_v7());
    assert_eq!(app.call(reqwest::Method::POST, &unknown, Some(&analyst), None).await.0, StatusCode::NOT_FOUND);
    let buyer = app.login("buyer@example.com").await;
    let (status, _) = app.call(reqwest::Method::GET, "/api/v1/admin/events/dead-letters", Some(&buyer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
