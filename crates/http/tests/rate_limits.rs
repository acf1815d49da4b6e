//! Rate limits through the HTTP interface, on the in-process limiter: per client IP on
//! login, the token endpoint, refresh and registration; per account for failed logins,
//! checked before any bcrypt work; 429 problems with `Retry-After`; and the client IP taken
//! from `X-Forwarded-For` only when a trusted proxy sent it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test::{TestRequest, init_service};
use async_trait::async_trait;
use common::*;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use storefront_app::ports::{HashingError, PasswordHasher, SystemClock, UuidV7Generator};
use storefront_app::{AuthService, AuthSettings, Quota, RateLimitPolicy, RateLimits};
use storefront_auth::{BcryptHasher, JwtCodec, RandomRefreshTokens};
use storefront_domain::{PasswordHash, PlainPassword};
use storefront_http::{AppState, TrustedProxies, build_app};
use storefront_memory::{MemoryRateLimiter, MemoryStore};

fn policy(per_ip: u64, failed_logins: u64, failed_logins_window: Duration) -> RateLimitPolicy {
    RateLimitPolicy {
        enabled: true,
        per_ip: Quota { max: per_ip, window: Duration::from_secs(60) },
        ipv6_prefix: RateLimitPolicy::DEFAULT_IPV6_PREFIX,
        failed_logins: Quota { max: failed_logins, window: failed_logins_window },
        ..RateLimitPolicy::default()
    }
}

/// The app's state on a fresh memory store, with `policy` enforced on a fresh limiter.
fn limited(policy: RateLimitPolicy) -> AppState {
    with_limits(state(), policy)
}

fn with_limits(mut state: AppState, policy: RateLimitPolicy) -> AppState {
    let limits = RateLimits::new(Arc::new(MemoryRateLimiter::new()), policy);
    state.auth = state.auth.clone().with_rate_limits(limits.clone());
    state.accounts = state.accounts.clone().with_rate_limits(limits);
    state
}

fn from(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40000)
}

fn login_from(ip: &str, email: &str, password: &str) -> TestRequest {
    post_json("/api/v1/auth/login", json!({"email": email, "password": password})).peer_addr(from(ip))
}

#[track_caller]
fn assert_rate_limited(reply: &Reply) {
    reply.problem(429, "rate_limited");
    let retry_after: u64 = reply.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}

#[actix_web::test]
async fn logins_from_one_ip_past_the_quota_answer_429_with_retry_after_and_other_ips_are_served() {
    let app = init_service(build_app(limited(policy(3, 100, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(send(&app, login_from("203.0.113.7", "ada@example.com", PASSWORD)).await.status, 200);
    }
    let refused = send(&app, login_from("203.0.113.7", "ada@example.com", PASSWORD)).await;
    assert_rate_limited(&refused);
    // The rest of the one-minute window, rounded up.
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(send(&app, login_from("203.0.113.8", "ada@example.com", PASSWORD)).await.status, 200);
}

#[actix_web::test]
async fn the_token_endpoint_shares_the_login_quota_and_answers_429_as_problem_details() {
    let app = init_service(build_app(limited(policy(2, 100, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let grant = "grant_type=password&username=ada%40example.com&password=violet+lantern+42+harbor";
    assert_eq!(send(&app, form("/api/v1/auth/token", grant).peer_addr(from("203.0.113.7"))).await.status, 200);
    assert_eq!(send(&app, login_from("203.0.113.7", "ada@example.com", PASSWORD)).await.status, 200);
    let refused = send(&app, form("/api/v1/auth/token", grant).peer_addr(from("203.0.113.7"))).await;
    // Not an RFC 6749 error body: API.md makes the token endpoint's 429 a problem like any other.
    assert_rate_limited(&refused);
    assert!(refused.json().get("error").is_none());
}

#[actix_web::test]
async fn refreshes_and_registrations_have_per_ip_quotas_of_their_own() {
    let app = init_service(build_app(limited(policy(2, 100, Duration::from_secs(900))))).await;
    let register_from = |n: u32| {
        post_json(
            "/api/v1/users",
            json!({"email": format!("user{n}@example.com"), "password": PASSWORD, "name": "Ada"}),
        )
        .peer_addr(from("203.0.113.7"))
    };
    assert_eq!(send(&app, register_from(1)).await.status, 201);
    assert_eq!(send(&app, register_from(2)).await.status, 201);
    assert_rate_limited(&send(&app, register_from(3)).await);

    // Refreshing is a separate quota: two logins did not use it.
    let first = tokens(&send(&app, login_from("203.0.113.7", "user1@example.com", PASSWORD)).await);
    let refresh_from =
        |token: &str| post_json("/api/v1/auth/refresh", json!({"refresh_token": token})).peer_addr(from("203.0.113.7"));
    let second = tokens(&send(&app, refresh_from(&first.refresh)).await);
    let third = send(&app, refresh_from(&second.refresh)).await;
    assert_eq!(third.status, 200);
    assert_rate_limited(&send(&app, refresh_from(&tokens(&third).refresh)).await);
    // The token endpoint's refresh grant counts against the same quota.
    let grant = format!("grant_type=refresh_token&refresh_token={}", tokens(&third).refresh);
    assert_rate_limited(&send(&app, form("/api/v1/auth/token", &grant).peer_addr(from("203.0.113.7"))).await);
}

#[actix_web::test]
async fn once_an_account_has_failed_too_often_even_the_right_password_answers_429() {
    let app = init_service(build_app(limited(policy(100, 3, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    // From three addresses: the account's quota is not the IPs'.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        send(&app, login_from(ip, "ada@example.com", "wrong password 1")).await.problem(401, "invalid_credentials");
    }
    assert_rate_limited(&send(&app, login_from("198.51.100.9", "Ada@Example.com", PASSWORD)).await);
    // Another account is not affected.
    register(&app, "bob@example.com", PASSWORD).await;
    assert_eq!(send(&app, login_from("203.0.113.1", "bob@example.com", PASSWORD)).await.status, 200);
}

#[actix_web::test]
async fn successful_logins_do_not_use_the_account_quota() {
    let app = init_service(build_app(limited(policy(100, 2, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await.status, 200);
    }
    send(&app, login_from("203.0.113.1", "ada@example.com", "wrong password 1"))
        .await
        .problem(401, "invalid_credentials");
    assert_eq!(send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await.status, 200);
}

#[actix_web::test]
async fn an_unknown_account_is_limited_exactly_like_a_real_one() {
    let app = init_service(build_app(limited(policy(100, 2, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            send(&app, login_from("203.0.113.1", email, "wrong password 1")).await.problem(401, "invalid_credentials");
        }
        assert_rate_limited(&send(&app, login_from("203.0.113.1", email, "wrong password 1")).await);
    }
}

#[actix_web::test]
async fn an_account_lock_ends_with_its_window() {
    let window = Duration::from_millis(1200);
    let app = init_service(build_app(limited(policy(100, 1, window)))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    send(&app, login_from("203.0.113.1", "ada@example.com", "wrong password 1"))
        .await
        .problem(401, "invalid_credentials");
    assert_rate_limited(&send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await);
    // Attempts during the lock do not prolong it.
    tokio::time::sleep(window / 2).await;
    assert_rate_limited(&send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await);
    tokio::time::sleep(window).await;
    assert_eq!(send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await.status, 200);
}

/// Counts the password checks the hasher is asked for, and fails them on demand.
#[derive(Clone)]
struct ObservedHasher {
    inner: Arc<BcryptHasher>,
    verifications: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

#[async_trait]
impl PasswordHasher for ObservedHasher {
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, HashingError> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &PlainPassword, hash: Option<&PasswordHash>) -> Result<bool, HashingError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(HashingError::Failed("the hashing pool is gone".into()));
        }
        self.inner.verify(password, hash).await
    }
}

/// Limited state whose logins check passwords through `hasher`.
fn limited_with_hasher(policy: RateLimitPolicy, hasher: ObservedHasher) -> AppState {
    let store = MemoryStore::new();
    let mut state = state_on(store.clone(), AuthSettings::default());
    state.auth = AuthService::new(
        Arc::new(store.clone()),
        Arc::new(store),
        Arc::new(hasher),
        Arc::new(JwtCodec::new(SECRET, ISSUER, AUDIENCE)),
        Arc::new(RandomRefreshTokens),
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
        AuthSettings::default(),
    );
    with_limits(state, policy)
}

fn observed_hasher() -> ObservedHasher {
    ObservedHasher {
        inner: Arc::new(BcryptHasher::new(b"test-pepper".to_vec(), 4).unwrap()),
        verifications: Arc::new(AtomicUsize::new(0)),
        failing: Arc::new(AtomicBool::new(false)),
    }
}

#[actix_web::test]
async fn a_locked_account_costs_no_password_check() {
    let hasher = observed_hasher();
    let app =
        init_service(build_app(limited_with_hasher(policy(100, 2, Duration::from_secs(900)), hasher.clone()))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    for _ in 0..2 {
        send(&app, login_from("203.0.113.1", "ada@example.com", "wrong password 1")).await;
    }
    assert_eq!(hasher.verifications.load(Ordering::SeqCst), 2);
    for _ in 0..5 {
        assert_rate_limited(&send(&app, login_from("203.0.113.1", "ada@example.com", "wrong password 2")).await);
    }
    assert_eq!(hasher.verifications.load(Ordering::SeqCst), 2, "no bcrypt work for a locked account");
}

#[actix_web::test]
async fn logins_that_fail_inside_the_server_do_not_count_as_failed_logins() {
    let hasher = observed_hasher();
    let app =
        init_service(build_app(limited_with_hasher(policy(100, 2, Duration::from_secs(900)), hasher.clone()))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    hasher.failing.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await.problem(500, "internal");
    }
    hasher.failing.store(false, Ordering::SeqCst);
    // The user retrying through an outage is not locked out by it.
    assert_eq!(send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await.status, 200);
}

#[actix_web::test]
async fn switched_off_limits_never_answer_429() {
    let mut policy = policy(1, 1, Duration::from_secs(900));
    policy.enabled = false;
    let app = init_service(build_app(limited(policy))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    for _ in 0..3 {
        send(&app, login_from("203.0.113.1", "ada@example.com", "wrong password 1"))
            .await
            .problem(401, "invalid_credentials");
    }
    assert_eq!(send(&app, login_from("203.0.113.1", "ada@example.com", PASSWORD)).await.status, 200);
}

fn behind_proxy(policy: RateLimitPolicy) -> AppState {
    let mut state = limited(policy);
    state.config.trusted_proxies = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
    state
}

#[actix_web::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_escape_the_quota() {
    let app = init_service(build_app(behind_proxy(policy(2, 100, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    for n in 0..2 {
        let spoofed = login_from("203.0.113.7", "ada@example.com", PASSWORD)
            .insert_header(("x-forwarded-for", format!("198.51.100.{n}")));
        assert_eq!(send(&app, spoofed).await.status, 200);
    }
    let spoofed =
        login_from("203.0.113.7", "ada@example.com", PASSWORD).insert_header(("x-forwarded-for", "198.51.100.99"));
    assert_rate_limited(&send(&app, spoofed).await);
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota_and_session_ip() {
    let app = init_service(build_app(behind_proxy(policy(2, 100, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    let via_proxy = |client: &str| {
        login_from("10.0.0.2", "ada@example.com", PASSWORD)
            .insert_header(("x-forwarded-for", format!("1.2.3.4, {client}")))
    };
    let first = send(&app, via_proxy("203.0.113.7")).await;
    assert_eq!(first.status, 200);
    assert_eq!(send(&app, via_proxy("203.0.113.7")).await.status, 200);
    assert_rate_limited(&send(&app, via_proxy("203.0.113.7")).await);
    // Another client behind the same proxy is not limited by the first.
    assert_eq!(send(&app, via_proxy("203.0.113.8")).await.status, 200);

    // The session remembers the client, not the proxy (nor the forged leftmost entry).
    let sessions =
        send(&app, TestRequest::get().uri("/api/v1/auth/sessions").insert_header(bearer(&tokens(&first).access)))
            .await
            .json();
    let ips: Vec<&str> = sessions.as_array().unwrap().iter().map(|s| s["ip"].as_str().unwrap()).collect();
    assert!(ips.contains(&"203.0.113.7") && ips.contains(&"203.0.113.8"), "{ips:?}");
}

#[actix_web::test]
async fn rate_limit_hits_are_counted_in_metrics_by_limit() {
    let app = init_service(build_app(limited(policy(1, 100, Duration::from_secs(900))))).await;
    send(&app, login_from("203.0.113.7", "ada@example.com", PASSWORD)).await;
    assert_rate_limited(&send(&app, login_from("203.0.113.7", "ada@example.com", PASSWORD)).await);
    let metrics = String::from_utf8(send(&app, TestRequest::get().uri("/metrics")).await.body.to_vec()).unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("rate_limit_hits_total") && l.contains(r#"limit="login_per_ip""#)),
        "{metrics}"
    );
}

fn change_password_from(ip: &str, access: &str, current: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/users/me/password")
        .insert_header(bearer(access))
        .peer_addr(from(ip))
        .set_json(json!({"current_password": current, "new_password": "amber falcon 77 meadow"}))
}

#[actix_web::test]
async fn wrong_current_passwords_count_against_the_accounts_login_limit() {
    let app = init_service(build_app(limited(policy(100, 3, Duration::from_secs(900))))).await;
    let ada = signed_up(&app, "ada@example.com").await;
    // From three addresses: the account's quota is not the IPs'.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        send(&app, change_password_from(ip, &ada.access, "wrong password 1")).await.problem(401, "invalid_credentials");
    }
    for _ in 0..12 {
        assert_rate_limited(&send(&app, change_password_from("198.51.100.9", &ada.access, "wrong password 2")).await);
    }
    // Even the right password, here and at the login: the lock is the account's.
    assert_rate_limited(&send(&app, change_password_from("198.51.100.9", &ada.access, PASSWORD)).await);
    assert_rate_limited(&send(&app, login_from("198.51.100.9", "ada@example.com", PASSWORD)).await);
}

#[actix_web::test]
async fn wrong_current_passwords_count_against_the_ips_login_limit_and_right_ones_do_not() {
    let app = init_service(build_app(limited(policy(3, 100, Duration::from_secs(900))))).await;
    let ada = signed_up(&app, "ada@example.com").await;
    let bob = signed_up(&app, "bob@example.com").await;
    // A right current password does not use the quota...
    assert_eq!(send(&app, change_password_from("203.0.113.7", &bob.access, PASSWORD)).await.status, 204);
    // ...wrong ones do, whichever account they are for.
    for access in [&ada.access, &ada.access, &bob.access] {
        send(&app, change_password_from("203.0.113.7", access, "wrong password 1"))
            .await
            .problem(401, "invalid_credentials");
    }
    assert_rate_limited(&send(&app, change_password_from("203.0.113.7", &ada.access, "wrong password 1")).await);
    // The login quota of that IP is the same one.
    assert_rate_limited(&send(&app, login_from("203.0.113.7", "ada@example.com", PASSWORD)).await);
    assert_eq!(send(&app, change_password_from("203.0.113.8", &ada.access, PASSWORD)).await.status, 204);
}

#[actix_web::test]
async fn ipv6_clients_rotating_through_their_prefix_share_one_quota() {
    let app = init_service(build_app(limited(policy(3, 100, Duration::from_secs(900))))).await;
    register(&app, "ada@example.com", PASSWORD).await;
    // Three addresses of one /64: one quota, so the fourth is refused wherever it comes from.
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"] {
        assert_eq!(send(&app, login_from(ip, "ada@example.com", PASSWORD)).await.status, 200);
    }
    assert_rate_limited(&send(&app, login_from("2001:db8:1:2:ffff::9", "ada@example.com", PASSWORD)).await);
    // Another /64, and IPv4 clients, have quotas of their own.
    assert_eq!(send(&app, login_from("2001:db8:1:3::1", "ada@example.com", PASSWORD)).await.status, 200);
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        assert_eq!(send(&app, login_from(ip, "ada@example.com", PASSWORD)).await.status, 200);
    }
}
