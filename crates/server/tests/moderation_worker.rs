//! Review moderation through Redis with the real `storefront worker` binary, on PostgreSQL:
//! a toxic review posted over HTTP is public until the worker's check flags it, then gone
//! from the public list and the product's count while its author still sees it; a
//! moderator's rejection is audited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use storefront_server::RunEnv;
use storefront_server::settings::{MailBackend, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::smtp::SmtpSink;
use support::Api;

mod support;

const PASSWORD: &str = "moderate the reviews 9";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Deletes the test's Redis keys.
async fn clean_redis(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap();
    }
}

/// Polls `path` as anonymous (every 100 ms, at most 20 s) until `done` says so; the last body.
async fn wait_for(api: &Api, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let (status, body) = api.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never got there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_flags_a_toxic_review_which_leaves_the_public_list_but_not_its_authors() {
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
    let api = Api::spawn(settings, PASSWORD).await;
    api.create_with_role("admin@example.com", "Ada Admin", "admin").await;
    api.create_with_role("mod@example.com", "Mo Moderator", "moderator").await;
    let admin = api.login("admin@example.com").await;
    let moderator = api.login("mod@example.com").await;
    let seller = api.register("seller@example.com", "Sam Seller").await;
    let author = api.register("troll@example.com", "Tom Troll").await;
    let body = json!({"name": "Brass lamp", "price_cents": 2_500, "stock": 7});
    let (_, product) = api.call(Method::POST, "/api/v1/products", Some(&seller), Some(body)).await;
    let product_path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let reviews_path = format!("{product_path}/reviews");

    let body = json!({"rating": 1, "body": "You are a fucking idiot and your shop is shit."});
    let (status, review) = api.call(Method::POST, &reviews_path, Some(&author), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{review}");
    let review_id = review["id"].as_str().unwrap().to_owned();
    // `serve` with Redis only writes the outbox: public until a worker has checked it.
    let (_, public) = api.call(Method::GET, &reviews_path, None, None).await;
    assert_eq!(public["total"], 1);

    let mut worker = api.worker_command().spawn().unwrap();
    let public = wait_for(&api, &reviews_path, |list| list["total"] == 0).await;
    assert_eq!(public["items"], json!([]));
    let (_, seen) = api.call(Method::GET, &product_path, None, None).await;
    assert_eq!((seen["review_count"].clone(), seen["rating_avg"].clone()), (json!(0), Value::Null));
    let (_, own) = api.call(Method::GET, &reviews_path, Some(&author), None).await;
    assert_eq!(own["total"], 1);
    assert_eq!(own["items"][0]["moderation"]["status"], "flagged", "{own}");
    let review_path = format!("/api/v1/reviews/{review_id}");
    assert_eq!(api.call(Method::GET, &review_path, None, None).await.0, StatusCode::NOT_FOUND);

    let (_, queue) = api.call(Method::GET, "/api/v1/admin/reviews", Some(&moderator), None).await;
    assert_eq!(queue["items"][0]["id"], review_id.as_str(), "{queue}");
    let decision_path = format!("/api/v1/admin/reviews/{review_id}/decision");
    let decision = json!({"decision": "reject"});
    let (status, decided) = api.call(Method::POST, &decision_path, Some(&moderator), Some(decision)).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["moderation"]["status"], "rejected");
    let (_, audit) = api.call(Method::GET, "/api/v1/admin/audit?action=review.rejected", Some(&admin), None).await;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["items"][0]["target"], format!("review:{review_id}"));

    let status = Command::new("kill").arg("-TERM").arg(worker.id().to_string()).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || worker.wait().unwrap()).await.unwrap();
    assert_eq!(exit.code(), Some(0), "a worker told to stop exits 0");
    clean_redis(&api.settings.redis.key_prefix).await;
}
