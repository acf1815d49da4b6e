//! End-to-end: the real server on a random loopback port with PostgreSQL, driven over TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_server::{Application, RunEnv, Settings};
use storefront_testkit::database::TestDatabase;

struct TestApp {
    base: String,
    client: reqwest::Client,
    _db: TestDatabase,
}

async fn spawn_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::create().await;
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = Some(db.url.clone());
    settings.auth.jwt_secret = Some("an-end-to-end-test-secret-of-32-bytes!".into());
    configure(&mut settings);
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp { base, client: reqwest::Client::new(), _db: db }
}

impl TestApp {
    async fn post_json(&self, path: &str, body: Value, bearer: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn me(&self, access: &str) -> StatusCode {
        self.client.get(format!("{}/api/v1/users/me", self.base)).bearer_auth(access).send().await.unwrap().status()
    }

    async fn refresh(&self, refresh: &str) -> (StatusCode, Value) {
        self.post_json("/api/v1/auth/refresh", json!({ "refresh_token": refresh }), None).await
    }

    async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) =
            self.post_json("/api/v1/auth/login", json!({ "email": email, "password": password }), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_registers_logs_in_refreshes_and_a_replayed_refresh_token_revokes_the_family() {
    let app = spawn_app(|s| s.auth.refresh_reuse_grace_secs = 0).await;
    let email = "Grace.Hopper@Example.com";
    let password = "compilers are fun 1952";

    let (status, user) =
        app.post_json("/api/v1/users", json!({"email": email, "password": password, "name": "Grace"}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "grace.hopper@example.com");

    // The OAuth2 password grant, as Swagger UI sends it.
    let response = app
        .client
        .post(format!("{}/api/v1/auth/token", app.base))
        .form(&[("grant_type", "password"), ("username", email), ("password", password), ("client_id", "swagger")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(app.me(&text(&first, "access_token")).await, StatusCode::OK);

    let (status, second) = app.refresh(&text(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.me(&text(&second, "access_token")).await, StatusCode::OK);

    // Replaying the spent token is theft: the whole family dies, the newest token included.
    let (status, problem) = app.refresh(&text(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "invalid_token");
    assert_eq!(app.refresh(&text(&second, "refresh_token")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&text(&second, "access_token")).await, StatusCode::UNAUTHORIZED);

    // Two more logins; logout-all from one ends both at once.
    let laptop = app.login(email, password).await;
    let phone = app.login(email, password).await;
    let (status, _) = app.post_json("/api/v1/auth/logout-all", json!({}), Some(&text(&laptop, "access_token"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.me(&text(&phone, "access_token")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&text(&laptop, "access_token")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&text(&phone, "refresh_token")).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_with_one_token_let_exactly_one_win_on_postgres() {
    let app = spawn_app(|_| {}).await;
    let (status, _) = app
        .post_json(
            "/api/v1/users",
            json!({"email": "race@example.com", "password": "racing the clock 42", "name": "Racer"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let tokens = app.login("race@example.com", "racing the clock 42").await;
    let refresh = text(&tokens, "refresh_token");
    let attempts = (0..8).map(|_| app.refresh(&refresh));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_on_postgres() {
    let app = spawn_app(|_| {}).await;
    let health: Value = app.client.get(format!("{}/health", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let response = app.client.get(format!("{}/health/ready", app.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(ready, json!({"status": "ok", "checks": {"database": "ok"}}));
}
