//! Operations over real HTTP against the real `Application`: a database outage (through a
//! TCP proxy the test owns, never by stopping the shared PostgreSQL) and the recovery after
//! it, the pool's gauges on `/metrics`, rate limits shared by two instances through Redis,
//! and what the limits do when Redis is unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use storefront_server::{Application, RunEnv, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::proxy::{Cut, TcpProxy, host_and_port};

const PASSWORD: &str = "operations are fun 2026";

fn settings() -> Settings {
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = None;
    settings.redis.url = None;
    settings.auth.jwt_secret = Some("an-operations-test-secret-of-32-bytes!!".into());
    settings
}

/// Starts the server; its base URL.
async fn spawn(settings: Settings) -> String {
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

fn client() -> reqwest::Client {
    // A bound on every request, far above what any assertion below allows.
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn post(base: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = client().post(format!("{base}{path}")).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn register_and_login(base: &str, email: &str) -> String {
    let (status, body) = post(base, "/api/v1/users", json!({"email": email, "password": PASSWORD, "name": "Op"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(base, "/api/v1/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn me(base: &str, access: &str) -> reqwest::Response {
    client().get(format!("{base}/api/v1/users/me")).bearer_auth(access).send().await.unwrap()
}

/// Asserts what the contract says while the database is out of reach.
async fn assert_outage_is_handled(base: &str, access: &str, acquire_timeout: Duration) {
    let health = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "liveness touches no dependency");

    let started = Instant::now();
    let ready = client().get(format!("{base}/health/ready")).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["checks"]["database"], "ok");
    // "within ~1 s": the probe's own bound is 1 s; the slack is for a loaded machine.
    assert!(took < Duration::from_millis(2500), "/health/ready took {took:?}");

    let started = Instant::now();
    let response = me(base, access).await;
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "service_unavailable");
    assert!(took < acquire_timeout + Duration::from_millis(1500), "the API took {took:?}");
}

/// Polls until the server serves `GET /users/me` from the database again.
async fn assert_recovers(base: &str, access: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client().get(format!("{base}/health/ready")).send().await.unwrap().status();
        if ready == StatusCode::OK && me(base, access).await.status() == StatusCode::OK {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not recover (ready: {ready})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_fast_and_the_server_recovers_without_a_restart() {
    let db = TestDatabase::create().await;
    let proxy = TcpProxy::start(&host_and_port(&db.url)).await;
    let acquire_timeout = Duration::from_millis(1000);
    let mut settings = settings();
    settings.database.url = Some(proxy.url_through(&db.url));
    settings.database.acquire_timeout_ms = acquire_timeout.as_millis() as u64;
    settings.database.statement_timeout_ms = 2000;
    let base = spawn(settings).await;
    let access = register_and_login(&base, "outage@example.com").await;
    assert_eq!(me(&base, &access).await.status(), StatusCode::OK);

    // The database hangs: connections freeze, new ones are never answered.
    proxy.cut(Cut::Hang);
    assert_outage_is_handled(&base, &access, acquire_timeout).await;
    proxy.restore();
    assert_recovers(&base, &access).await;

    // The database is gone: connections drop, new ones are refused.
    proxy.cut(Cut::Refuse);
    assert_outage_is_handled(&base, &access, acquire_timeout).await;
    proxy.restore();
    assert_recovers(&base, &access).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_pool_and_the_requests_by_route_on_postgres() {
    let db = TestDatabase::create().await;
    let mut settings = settings();
    settings.database.url = Some(db.url.clone());
    let base = spawn(settings).await;
    let access = register_and_login(&base, "metrics@example.com").await;
    assert_eq!(me(&base, &access).await.status(), StatusCode::OK);

    let text = client().get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    for gauge in
        ["db_pool_connections", "db_pool_idle_connections", "db_pool_max_connections", "db_pool_waiting_requests"]
    {
        assert!(text.lines().any(|l| l.starts_with(&format!("{gauge} "))), "no {gauge} in {text}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains(r#"route="/api/v1/users/me""#)
            && l.contains(r#"status="200""#)),
        "{text}"
    );
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Settings of one instance sharing Redis under `prefix` (the test's own).
fn sharing_redis(prefix: &str) -> Settings {
    let mut settings = settings();
    settings.redis.url = Some(redis_url());
    settings.redis.key_prefix = prefix.to_owned();
    settings.rate_limit.per_ip_max = 3;
    settings.rate_limit.failed_logins_max = 2;
    settings
}

async fn login_status(base: &str, email: &str, password: &str) -> (StatusCode, Option<String>) {
    let response = client()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_share_the_per_ip_quota() {
    let prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
    let a = spawn(sharing_redis(&prefix)).await;
    let b = spawn(sharing_redis(&prefix)).await;
    // Three logins in all, across both instances, use this IP's quota of three.
    assert_eq!(login_status(&a, "x1@example.com", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&b, "x2@example.com", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&a, "x3@example.com", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    for base in [&a, &b] {
        let (status, retry_after) = login_status(base, "x4@example.com", PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_share_an_accounts_failed_logins() {
    let prefix = format!("storefront-test:{}:", uuid::Uuid::new_v4().simple());
    let mut settings_a = sharing_redis(&prefix);
    settings_a.rate_limit.per_ip_max = 100;
    let mut settings_b = settings_a.clone();
    // One PostgreSQL behind both, as in production, so the account exists on both.
    let db = TestDatabase::create().await;
    settings_a.database.url = Some(db.url.clone());
    settings_b.database.url = Some(db.url.clone());
    let a = spawn(settings_a).await;
    let b = spawn(settings_b).await;
    register_and_login(&a, "shared@example.com").await;

    assert_eq!(login_status(&a, "shared@example.com", "wrong password 1").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&b, "shared@example.com", "wrong password 2").await.0, StatusCode::UNAUTHORIZED);
    // Locked on both instances, even with the right password.
    assert_eq!(login_status(&a, "shared@example.com", PASSWORD).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_status(&b, "shared@example.com", PASSWORD).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_the_limits_fail_open_and_say_so_in_metrics() {
    let mut settings = settings();
    // Nothing listens on port 1 of loopback.
    settings.redis.url = Some("redis://127.0.0.1:1".into());
    settings.redis.timeout_ms = 200;
    settings.rate_limit.per_ip_max = 1;
    let base = spawn(settings).await;
    let started = Instant::now();
    let access = register_and_login(&base, "open@example.com").await;
    assert_eq!(me(&base, &access).await.status(), StatusCode::OK);
    for _ in 0..3 {
        // Past the quota of one: served all the same, as no counter can be read.
        assert_eq!(login_status(&base, "open@example.com", PASSWORD).await.0, StatusCode::OK);
    }
    assert!(started.elapsed() < Duration::from_secs(20), "each check is bounded by redis.timeout_ms");
    let text = client().get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.lines().any(|l| l.starts_with("rate_limiter_errors_total")), "{text}");
}
