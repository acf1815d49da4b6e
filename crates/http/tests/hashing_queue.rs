//! Bounded password-hashing work (API v1.1): when more hashing jobs wait than the queue
//! takes, logins, registrations and password changes answer 503 `service_unavailable` +
//! `Retry-After` at once, while `/health` and requests that hash nothing are served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::Method;
use actix_web::test::{TestRequest, init_service};
use common::*;
use futures::future::join_all;
use serde_json::json;
use std::sync::Arc;
use storefront_app::ports::{SystemClock, UuidV7Generator};
use storefront_app::{AccountService, AuthService, AuthSettings};
use storefront_auth::{BcryptHasher, HashingLimits, JwtCodec, RandomRefreshTokens};
use storefront_http::{AppState, build_app};
use storefront_memory::MemoryStore;

/// One hashing worker, one waiting place, and a cost that keeps a hash busy for a while.
fn with_a_tiny_hashing_queue() -> AppState {
    let store = MemoryStore::new();
    let mut state = state_on(store.clone(), AuthSettings::default());
    let hasher = Arc::new(
        BcryptHasher::with_limits(b"test-pepper".to_vec(), 9, HashingLimits { workers: 1, queue: 1 }).unwrap(),
    );
    state.accounts =
        AccountService::new(Arc::new(store.clone()), hasher.clone(), Arc::new(SystemClock), Arc::new(UuidV7Generator));
    state.auth = AuthService::new(
        Arc::new(store.clone()),
        Arc::new(store),
        hasher,
        Arc::new(JwtCodec::new(SECRET, ISSUER, AUDIENCE)),
        Arc::new(RandomRefreshTokens),
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
        AuthSettings::default(),
    );
    state
}

fn login_request(email: &str) -> TestRequest {
    post_json("/api/v1/auth/login", json!({"email": email, "password": PASSWORD}))
}

#[actix_web::test]
async fn past_the_hashing_queue_hashing_requests_answer_503_at_once_and_health_is_served() {
    let state = with_a_tiny_hashing_queue();
    let app = init_service(build_app(state)).await;
    let ada = signed_up(&app, "ada@example.com").await;

    let burst = [
        // The first hashes, the second waits for the one worker...
        login_request("ada@example.com"),
        login_request("ada@example.com"),
        // ...and every further hashing request is refused without waiting.
        login_request("ada@example.com"),
        post_json("/api/v1/users", json!({"email": "bob@example.com", "password": PASSWORD, "name": "Bob"})),
        request(
            Method::POST,
            "/api/v1/users/me/password",
            &ada.access,
            Some(json!({"current_password": PASSWORD, "new_password": "amber falcon 77 meadow"})),
        ),
        // Requests that hash nothing are unaffected.
        TestRequest::get().uri("/health"),
        request(Method::GET, "/api/v1/users/me", &ada.access, None),
    ];
    let replies = join_all(burst.into_iter().map(|req| send(&app, req))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses,
        [200, 200, 503, 503, 503, 200, 200],
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for refused in &replies[2..5] {
        refused.problem(503, "service_unavailable");
        let retry_after: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!(retry_after >= 1);
    }

    // Once the queue has drained, hashing requests are served again.
    assert_eq!(send(&app, login_request("ada@example.com")).await.status, 200);
}
