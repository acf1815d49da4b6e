//! The server and the worker configured for a Redis Cluster (`redis.cluster = true`,
//! `redis.url` listing the nodes), on a three-master cluster the test starts on loopback
//! ports: two instances count one per-IP limit together through the cluster, and the real
//! `storefront worker` relays and handles events through the stream on it — each mail once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use storefront_server::RunEnv;
use storefront_server::settings::{MailBackend, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::redis::RedisCluster;
use storefront_testkit::smtp::SmtpSink;
use support::Api;

mod support;

const PASSWORD: &str = "sixteen thousand slots 4";

/// A process killed when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_worker_on_a_redis_cluster_share_limits_and_mail_each_event_once() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start).await.unwrap();
    let db = TestDatabase::create().await;
    let smtp = SmtpSink::start();
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 1;
    settings.database.url = Some(db.url.clone());
    settings.auth.jwt_secret = Some("a-redis-cluster-test-secret-of-32-bytes".into());
    settings.redis.url = Some(cluster.urls());
    settings.redis.cluster = true;
    settings.rate_limit.per_ip_max = 8;
    settings.mail.backend = MailBackend::Smtp;
    settings.mail.smtp_port = smtp.port;
    settings.mail.from = "Storefront <no-reply@storefront.test>".into();
    let a = Api::spawn(settings.clone(), PASSWORD).await;
    let b = Api::spawn(settings, PASSWORD).await;
    let _worker = KillOnDrop(a.worker_command().env("STOREFRONT__EVENTS__CLAIM_IDLE_MS", "1000").spawn().unwrap());

    // Registrations from one client IP, alternating between the instances: the per-IP limit
    // is counted once, in the cluster.
    let mut statuses = Vec::new();
    for i in 0..10 {
        let api = if i % 2 == 0 { &a } else { &b };
        let body = json!({"email": format!("user-{i}@example.com"), "password": PASSWORD, "name": "Cluster User"});
        statuses.push(api.call(reqwest::Method::POST, "/api/v1/users", None, Some(body)).await.0);
    }
    assert_eq!(statuses[..8], [StatusCode::CREATED; 8], "{statuses:?}");
    assert_eq!(statuses[8..], [StatusCode::TOO_MANY_REQUESTS; 2], "{statuses:?}");

    // The eight welcomes went through the stream on the cluster, each once.
    let mails = smtp.wait_for(8, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut recipients: Vec<String> = smtp.messages().iter().filter_map(|m| m.header("To")).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!((mails.len(), smtp.count(), recipients.len()), (8, 8, 8), "{recipients:?}");
}
