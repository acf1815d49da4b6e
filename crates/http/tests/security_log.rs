//! What the logs say: one access line per request (method, route, status, latency, request
//! id), security events as structured `security_event` fields naming the caller where
//! known, and never a password or a token, whatever the request carried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test::{TestRequest, init_service};
use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storefront_app::{AuthSettings, Quota, RateLimitPolicy, RateLimits};
use storefront_http::build_app;
use storefront_memory::MemoryRateLimiter;
use tracing_subscriber::fmt::MakeWriter;

/// Log output, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[actix_web::test]
async fn security_events_are_logged_with_the_caller_and_never_a_secret() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_max_level(tracing::Level::INFO)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut state =
        state_with(AuthSettings { refresh_reuse_grace: chrono::Duration::zero(), ..AuthSettings::default() });
    let policy = RateLimitPolicy {
        enabled: true,
        per_ip: Quota { max: 1000, window: Duration::from_secs(60) },
        ipv6_prefix: RateLimitPolicy::DEFAULT_IPV6_PREFIX,
        failed_logins: Quota { max: 2, window: Duration::from_secs(900) },
        ..RateLimitPolicy::default()
    };
    let limits = RateLimits::new(Arc::new(MemoryRateLimiter::new()), policy);
    state.auth = state.auth.clone().with_rate_limits(limits);
    let app = init_service(build_app(state)).await;

    let ada = register(&app, "ada@example.com", PASSWORD).await;
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    let wrong = "hunter2 wrong guess";
    send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": wrong})))
        .await
        .problem(401, "invalid_credentials");

    // A login through the token endpoint, a refresh, and the spent token replayed.
    let grant = "grant_type=password&username=ada%40example.com&password=violet+lantern+42+harbor";
    let first = tokens(&send(&app, form("/api/v1/auth/token", grant)).await);
    let second = tokens(&refresh(&app, &first.refresh).await);
    refresh(&app, &first.refresh).await.problem(401, "invalid_token");

    // A plain user asking for the user list.
    let third = login(&app, "ada@example.com", PASSWORD).await;
    send(&app, TestRequest::get().uri("/api/v1/users").insert_header(bearer(&third.access)))
        .await
        .problem(403, "forbidden");

    // The second failure reaches the quota; the next attempt is refused.
    send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": wrong})))
        .await
        .problem(401, "invalid_credentials");
    send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": PASSWORD})))
        .await
        .problem(429, "rate_limited");

    let lines = captured.lines();
    let events = |name: &str| -> Vec<&Value> { lines.iter().filter(|l| l["security_event"] == name).collect() };
    assert_eq!(events("login_failed").len(), 2, "{lines:#?}");
    assert_eq!(events("login_failed")[0]["user_id"], ada_id.as_str());
    assert_eq!(events("refresh_token_reuse").len(), 1);
    let denied = events("permission_denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["span"]["user_id"], ada_id.as_str(), "{:#?}", denied[0]);
    assert_eq!(denied[0]["span"]["path"], "/api/v1/users");
    assert_eq!(events("rate_limited").len(), 1);
    assert_eq!(events("rate_limited")[0]["limit"], "failed_logins_per_account");

    let served: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request served").collect();
    assert_eq!(served.len(), 9);
    let forbidden = served.iter().find(|l| l["status"] == 403).unwrap();
    assert_eq!(forbidden["method"], "GET");
    assert_eq!(forbidden["route"], "/api/v1/users");
    assert!(forbidden["latency_ms"].as_f64().is_some());
    assert!(forbidden["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    let text = captured.text();
    for secret in [
        PASSWORD,
        "violet+lantern",
        wrong,
        &first.access,
        &first.refresh,
        &second.access,
        &second.refresh,
        &third.access,
    ] {
        assert!(!text.contains(secret), "a secret reached the logs: {secret}");
    }
    // Nor the email typed at login, which may be a password typed in the wrong field.
    assert!(
        !events("login_failed").iter().chain(events("rate_limited").iter()).any(|l| l.to_string().contains("ada@"))
    );
}
