//! The account life cycle through the HTTP API on the memory store: every status of the
//! contract's tables for email verification, password reset, email change and the second
//! factor. Links are read out of the mails the outbox handlers send (a recording mailer),
//! TOTP codes computed from the enrolment's secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::{TestRequest, init_service};
use common::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use storefront_app::ports::{
    AuditFilter, Mail, MailError, Mailer, PageRequest, RateLimiter, SystemClock, UuidV7Generator,
};
use storefront_app::{
    AccountMail, AuthSettings, LifecycleSettings, Notifications, OutboxDispatcher, OutboxSettings, Quota,
    RateLimitPolicy, RateLimits, RetryPolicy, ServicePorts, ServiceSettings, Services,
};
use storefront_auth::{BcryptHasher, JwtCodec, RandomRefreshTokens, RfcTotp};
use storefront_domain::mfa::totp_step;
use storefront_domain::{AuditAction, Permission};
use storefront_http::{AppState, HttpConfig, build_app};
use storefront_memory::{MemoryRateLimiter, MemoryStore};

#[derive(Default)]
struct Mailbox(Mutex<Vec<Mail>>);

#[async_trait::async_trait]
impl Mailer for Mailbox {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

/// The app over a memory store, its mailbox and the dispatcher that fills it.
struct Lab {
    state: AppState,
    mailbox: Arc<Mailbox>,
    dispatcher: OutboxDispatcher,
}

impl Lab {
    fn new() -> Self {
        Self::with(LifecycleSettings::default(), None)
    }

    fn with(lifecycle: LifecycleSettings, policy: Option<RateLimitPolicy>) -> Self {
        let store = MemoryStore::new();
        let ports = ServicePorts {
            hasher: Arc::new(BcryptHasher::new(b"test-pepper".to_vec(), 4).unwrap()),
            access_tokens: Arc::new(JwtCodec::new(SECRET, ISSUER, AUDIENCE)),
            refresh_tokens: Arc::new(RandomRefreshTokens),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Generator),
            language_model: Arc::new(storefront_llm::BuiltinModel::new()),
            totp: Arc::new(RfcTotp),
            analysis_cache: Arc::new(storefront_memory::MokaAnalysisCache::default()),
        };
        let rate_limits = policy.map(|policy| {
            let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new());
            RateLimits::new(limiter, policy)
        });
        let settings = ServiceSettings {
            auth: AuthSettings::default(),
            lifecycle: lifecycle.clone(),
            rate_limits,
            ..ServiceSettings::default()
        };
        let services = Services::new(&store, ports, settings);
        let state = AppState::new(services, vec![Arc::new(store.clone())], HttpConfig::default());
        let mailbox = Arc::new(Mailbox::default());
        let account =
            AccountMail { links: Arc::new(store.clone()), tokens: Arc::new(RandomRefreshTokens), settings: lifecycle };
        let notifications = Notifications::new(
            Arc::new(store.clone()),
            mailbox.clone(),
            Arc::new(store.clone()),
            account,
            Arc::new(SystemClock),
            "USD".into(),
            chrono::Duration::seconds(60),
        );
        let dispatcher = OutboxDispatcher::new(
            Arc::new(store),
            Arc::new(notifications),
            Arc::new(SystemClock),
            RetryPolicy::default(),
            OutboxSettings::default(),
        );
        Self { state, mailbox, dispatcher }
    }

    /// Handles every owed event and answers the mails sent since the last call.
    async fn mails(&self) -> Vec<Mail> {
        let report = self.dispatcher.run_once().await.unwrap();
        assert_eq!(report.failed + report.dead_lettered, 0, "{report:?}");
        std::mem::take(&mut *self.mailbox.0.lock().unwrap())
    }

    /// The one mail to `to` whose subject starts with `subject`.
    async fn mail(&self, to: &str, subject: &str) -> Mail {
        let mails = self.mails().await;
        let found: Vec<&Mail> = mails.iter().filter(|m| m.to == to && m.subject.starts_with(subject)).collect();
        assert_eq!(found.len(), 1, "one {subject:?} to {to}: {mails:#?}");
        found[0].clone()
    }
}

/// The token of the link to `page` in a mail, checking both bodies carry the link.
fn link_token(mail: &Mail, page: &str) -> String {
    let prefix = format!("http://127.0.0.1:8080/{page}?token=");
    let start = mail.body.find(&prefix).unwrap_or_else(|| panic!("no {prefix} in {}", mail.body)) + prefix.len();
    let token: String =
        mail.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c)).collect();
    assert_eq!(token.len(), 43, "a 256-bit token, base64url");
    let html = mail.html.as_deref().expect("an HTML body too");
    assert!(html.contains(&format!("href=\"{prefix}{token}\"")), "{html}");
    token
}

fn post_token(uri: &str, token: &str) -> TestRequest {
    post_json(uri, json!({"token": token}))
}

fn totp(secret: &str, step: i64) -> String {
    RfcTotp::code_at_step(secret, step).unwrap()
}

fn now_step() -> i64 {
    totp_step(chrono::Utc::now())
}

async fn audit_actions(state: &AppState, action: AuditAction) -> Vec<Value> {
    let filter = AuditFilter { action: Some(action), actor_id: None };
    let page = state.access.audit_log(&filter, PageRequest { limit: 100, offset: 0 }).await.unwrap();
    page.items.iter().map(|e| json!({"target": e.target, "details": e.details})).collect()
}

fn limited(failed_logins: u64) -> RateLimitPolicy {
    RateLimitPolicy {
        failed_logins: Quota { max: failed_logins, window: Duration::from_secs(900) },
        ..RateLimitPolicy::default()
    }
}

#[actix_web::test]
async fn registration_mails_a_verification_link_that_verifies_the_address_once() {
    let lab = Lab::new();
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    assert_eq!(get_me(&app, &tokens.access).await.json()["email_verified"], false);

    let mail = lab.mail("ada@example.com", "Welcome to Storefront").await;
    let token = link_token(&mail, "verify-email");
    let verified = send(&app, post_token("/api/v1/auth/email/verify", &token)).await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    assert_eq!(
        (verified.json()["email"].as_str(), verified.json()["email_verified"].as_bool()),
        (Some("ada@example.com"), Some(true))
    );
    assert_eq!(get_me(&app, &tokens.access).await.json()["email_verified"], true);

    // Single use; unknown tokens alike; a missing token is a validation error.
    send(&app, post_token("/api/v1/auth/email/verify", &token)).await.problem(422, "invalid_link");
    send(&app, post_token("/api/v1/auth/email/verify", "not-a-token")).await.problem(422, "invalid_link");
    assert_eq!(send(&app, post_json("/api/v1/auth/email/verify", json!({}))).await.fields(), ["token"]);

    // Verified already: nothing more to send.
    let again = TestRequest::post().uri("/api/v1/auth/email/verification").insert_header(bearer(&tokens.access));
    send(&app, again).await.problem(409, "conflict");
    let anonymous = send(&app, TestRequest::post().uri("/api/v1/auth/email/verification")).await;
    anonymous.problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_verification_mail_can_be_asked_for_three_times_an_hour() {
    let lab = Lab::with(LifecycleSettings::default(), Some(RateLimitPolicy::default()));
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    lab.mails().await;
    for _ in 0..3 {
        let req = TestRequest::post().uri("/api/v1/auth/email/verification").insert_header(bearer(&tokens.access));
        let reply = send(&app, req).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    let req = TestRequest::post().uri("/api/v1/auth/email/verification").insert_header(bearer(&tokens.access));
    let refused = send(&app, req).await;
    refused.problem(429, "rate_limited");
    assert!(refused.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
    let mails = lab.mails().await;
    assert_eq!(mails.iter().filter(|m| m.subject == "Confirm your email address").count(), 3);
    // Any of them verifies (each link is its own token).
    let token = link_token(&mails[2], "verify-email");
    assert_eq!(send(&app, post_token("/api/v1/auth/email/verify", &token)).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn with_verified_email_required_orders_and_reviews_wait_for_the_verification() {
    let lab = Lab::with(LifecycleSettings { require_verified_email: true, ..LifecycleSettings::default() }, None);
    let app = init_service(build_app(lab.state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let product = send(
        &app,
        request(
            Method::POST,
            "/api/v1/products",
            &seller.access,
            Some(json!({"name": "Pen", "price_cents": 150, "stock": 9})),
        ),
    )
    .await;
    assert_eq!(product.status, StatusCode::CREATED, "{:?}", product.body);
    let product_id = product.json()["id"].as_str().unwrap().to_owned();
    let buyer = signed_up(&app, "buyer@example.com").await;
    let order = json!({"items": [{"product_id": product_id, "quantity": 1}]});
    let review = json!({"rating": 5, "body": "Writes well"});
    let review_uri = format!("/api/v1/products/{product_id}/reviews");

    send(&app, request(Method::POST, "/api/v1/orders", &buyer.access, Some(order.clone())))
        .await
        .problem(403, "email_not_verified");
    send(&app, request(Method::POST, &review_uri, &buyer.access, Some(review.clone())))
        .await
        .problem(403, "email_not_verified");

    let mail = lab.mail("buyer@example.com", "Welcome to Storefront").await;
    send(&app, post_token("/api/v1/auth/email/verify", &link_token(&mail, "verify-email"))).await;
    let placed = send(&app, request(Method::POST, "/api/v1/orders", &buyer.access, Some(order))).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let reviewed = send(&app, request(Method::POST, &review_uri, &buyer.access, Some(review))).await;
    assert_eq!(reviewed.status, StatusCode::CREATED, "{:?}", reviewed.body);
}

#[actix_web::test]
async fn a_reset_link_sets_a_new_password_ends_every_session_verifies_and_sends_a_notice() {
    let lab = Lab::new();
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    register(&app, "gone@example.com", PASSWORD).await;
    let gone = lab.state.user_admin.list(
        Some("gone@".into()),
        None,
        storefront_app::ports::PageRequest { limit: 1, offset: 0 },
    );
    let gone = gone.await.unwrap().items.remove(0);
    let admin = signed_in_admin(&app, &lab.state).await;
    let deactivate =
        request(Method::PATCH, &format!("/api/v1/users/{}", gone.id), &admin.access, Some(json!({"is_active": false})));
    assert_eq!(send(&app, deactivate).await.status, StatusCode::OK);
    lab.mails().await;

    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com", "gone@example.com", " ADA@example.com "] {
        let reply = send(&app, post_json("/api/v1/auth/password/forgot", json!({"email": email}))).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{email}");
        answers.push(reply.body.clone());
    }
    assert!(answers.iter().all(|body| *body == answers[0]), "the same answer whatever the address");
    let mails = lab.mails().await;
    assert_eq!(mails.len(), 2, "only the active account gets links: {mails:#?}");
    assert!(mails.iter().all(|m| m.to == "ada@example.com" && m.subject == "Reset your Storefront password"));
    let token = link_token(&mails[0], "reset-password");
    let other_token = link_token(&mails[1], "reset-password");

    let weak =
        send(&app, post_json("/api/v1/auth/password/reset", json!({"token": token, "new_password": "password"}))).await;
    assert_eq!(weak.fields(), ["new_password"]);
    let short =
        send(&app, post_json("/api/v1/auth/password/reset", json!({"token": token, "new_password": "short"}))).await;
    assert_eq!(short.fields(), ["new_password"]);
    let new_password = "a brand new harbour lantern";
    let reset =
        send(&app, post_json("/api/v1/auth/password/reset", json!({"token": token, "new_password": new_password})))
            .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{:?}", reset.body);

    get_me(&app, &tokens.access).await.problem(401, "invalid_token");
    assert_eq!(refresh(&app, &tokens.refresh).await.status, StatusCode::UNAUTHORIZED);
    let old =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}))).await;
    old.problem(401, "invalid_credentials");
    let fresh = login(&app, "ada@example.com", new_password).await;
    assert_eq!(get_me(&app, &fresh.access).await.json()["email_verified"], true, "the link proved the address");

    // Spent, and the other link of the same account died with it.
    for spent in [&token, &other_token] {
        let again = send(
            &app,
            post_json("/api/v1/auth/password/reset", json!({"token": spent, "new_password": "yet another long one"})),
        );
        again.await.problem(422, "invalid_link");
    }
    let notice = lab.mail("ada@example.com", "Your Storefront password was changed").await;
    assert!(notice.html.is_some() && !notice.body.contains("token="));
    let audited = audit_actions(&lab.state, AuditAction::UserPasswordReset).await;
    assert_eq!(audited.len(), 1);
}

#[actix_web::test]
async fn password_reset_requests_are_limited_per_address_and_per_client_ip() {
    let policy =
        RateLimitPolicy { per_ip: Quota { max: 8, window: Duration::from_secs(60) }, ..RateLimitPolicy::default() };
    let lab = Lab::with(LifecycleSettings::default(), Some(policy));
    let app = init_service(build_app(lab.state.clone())).await;
    let forgot = |email: &str| post_json("/api/v1/auth/password/forgot", json!({"email": email}));
    for _ in 0..5 {
        assert_eq!(send(&app, forgot("ada@example.com")).await.status, StatusCode::ACCEPTED);
    }
    let refused = send(&app, forgot("Ada@Example.com")).await;
    refused.problem(429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    // Other addresses from the same client: the per-IP quota (8) runs out too.
    assert_eq!(send(&app, forgot("b@example.com")).await.status, StatusCode::ACCEPTED);
    assert_eq!(send(&app, forgot("c@example.com")).await.status, StatusCode::ACCEPTED);
    send(&app, forgot("d@example.com")).await.problem(429, "rate_limited");
    send(&app, post_json("/api/v1/auth/password/forgot", json!({"mail": "x"}))).await.problem(422, "validation_failed");
}

/// The forgot-password answer must not tell whether an account exists: the time it takes
/// for an existing address and for an unknown one differ by less than the noise of asking
/// the same thing again. Figures are printed (`--nocapture`).
#[actix_web::test]
async fn forgot_password_takes_the_same_time_for_existing_and_unknown_addresses() {
    let lab = Lab::new();
    let app = init_service(build_app(lab.state.clone())).await;
    register(&app, "ada@example.com", PASSWORD).await;
    const ROUNDS: usize = 5;
    const PER_ROUND: usize = 40;
    let mut medians: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, email) in ["ada@example.com", "nobody@example.com"].into_iter().enumerate() {
            let mut times = Vec::with_capacity(PER_ROUND);
            for _ in 0..PER_ROUND {
                let started = Instant::now();
                let reply = send(&app, post_json("/api/v1/auth/password/forgot", json!({"email": email}))).await;
                times.push(started.elapsed().as_secs_f64() * 1e6);
                assert_eq!(reply.status, StatusCode::ACCEPTED);
            }
            times.sort_by(f64::total_cmp);
            medians[i].push(times[PER_ROUND / 2]);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let spread = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max) - v.iter().copied().fold(f64::MAX, f64::min);
    let (existing, unknown) = (median(&medians[0]), median(&medians[1]));
    let noise = spread(&medians[0]).max(spread(&medians[1]));
    eprintln!(
        "forgot-password median per round (µs): existing {:?}, unknown {:?}; medians {existing:.1} vs {unknown:.1}, \
         difference {:.1}, round-to-round noise {noise:.1}",
        medians[0].iter().map(|t| t.round()).collect::<Vec<_>>(),
        medians[1].iter().map(|t| t.round()).collect::<Vec<_>>(),
        (existing - unknown).abs()
    );
    // A bcrypt hash at the test cost (4) takes ~1 ms: any per-account work would show.
    assert!(
        (existing - unknown).abs() <= noise.max(50.0),
        "existing {existing:.1} µs vs unknown {unknown:.1} µs, noise {noise:.1} µs"
    );
}

#[actix_web::test]
async fn an_email_change_is_confirmed_by_a_link_to_the_new_address_with_a_notice_to_the_old() {
    let lab = Lab::with(LifecycleSettings::default(), Some(limited(3)));
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let welcome = lab.mail("ada@example.com", "Welcome to Storefront").await;
    let stale_verification = link_token(&welcome, "verify-email");
    register(&app, "grace@example.com", PASSWORD).await;
    lab.mails().await;
    let change = |body: Value| request(Method::POST, "/api/v1/users/me/email", &tokens.access, Some(body));

    send(&app, change(json!({"new_email": "new@example.com", "current_password": "wrong password!"})))
        .await
        .problem(401, "invalid_credentials");
    send(&app, change(json!({"new_email": "GRACE@example.com", "current_password": PASSWORD})))
        .await
        .problem(409, "email_taken");
    assert_eq!(
        send(&app, change(json!({"new_email": "nope", "current_password": PASSWORD}))).await.fields(),
        ["new_email"]
    );
    let accepted = send(&app, change(json!({"new_email": "Ada.King@Example.com", "current_password": PASSWORD}))).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    assert_eq!(get_me(&app, &tokens.access).await.json()["email"], "ada@example.com", "not before the confirmation");

    let mails = lab.mails().await;
    let link = mails.iter().find(|m| m.to == "ada.king@example.com").expect("a link to the new address");
    let notice = mails.iter().find(|m| m.to == "ada@example.com").expect("a notice to the old address");
    assert!(notice.body.contains("ada.king@example.com") && !notice.body.contains("token="));
    let token = link_token(link, "confirm-email-change");
    let confirmed = send(&app, post_token("/api/v1/auth/email/confirm-change", &token)).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    assert_eq!(
        (confirmed.json()["email"].as_str(), confirmed.json()["email_verified"].as_bool()),
        (Some("ada.king@example.com"), Some(true))
    );
    send(&app, post_token("/api/v1/auth/email/confirm-change", &token)).await.problem(422, "invalid_link");
    login(&app, "ada.king@example.com", PASSWORD).await;
    // The old address's verification link proves nothing about the new one.
    send(&app, post_token("/api/v1/auth/email/verify", &stale_verification)).await.problem(422, "invalid_link");
    assert_eq!(audit_actions(&lab.state, AuditAction::UserEmailChanged).await.len(), 1);

    // Taken between the request and the confirmation.
    let again = send(&app, change(json!({"new_email": "later@example.com", "current_password": PASSWORD}))).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let mails = lab.mails().await;
    let token = link_token(mails.iter().find(|m| m.to == "later@example.com").unwrap(), "confirm-email-change");
    register(&app, "later@example.com", PASSWORD).await;
    send(&app, post_token("/api/v1/auth/email/confirm-change", &token)).await.problem(409, "email_taken");

    // Wrong passwords are failed logins: the account's limit (3) answers 429 after them.
    for _ in 0..3 {
        send(&app, change(json!({"new_email": "x@example.com", "current_password": "wrong password!"})))
            .await
            .problem(401, "invalid_credentials");
    }
    let refused = send(&app, change(json!({"new_email": "x@example.com", "current_password": PASSWORD}))).await;
    refused.problem(429, "rate_limited");
}

/// Enrols `access`'s account in TOTP and confirms it; the secret and the recovery codes.
async fn enrolled<S, B>(app: &S, access: &str) -> (String, Vec<String>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let enrol = send(
        app,
        request(Method::POST, "/api/v1/users/me/mfa/totp", access, Some(json!({"current_password": PASSWORD}))),
    )
    .await;
    assert_eq!(enrol.status, StatusCode::CREATED, "{:?}", enrol.body);
    let secret = enrol.json()["secret"].as_str().unwrap().to_owned();
    let confirm = json!({"code": totp(&secret, now_step())});
    let confirmed = send(app, request(Method::POST, "/api/v1/users/me/mfa/totp/confirm", access, Some(confirm))).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    let codes =
        confirmed.json()["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (secret, codes)
}

fn mfa_login(mfa_token: &str, code: &str) -> TestRequest {
    post_json("/api/v1/auth/mfa", json!({"mfa_token": mfa_token, "code": code}))
}

async fn mfa_token<S, B>(app: &S, email: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let reply = send(app, post_json("/api/v1/auth/login", json!({"email": email, "password": PASSWORD}))).await;
    let problem = reply.problem(401, "mfa_required");
    problem["mfa_token"].as_str().expect("an mfa_token member").to_owned()
}

#[actix_web::test]
async fn totp_enrolment_needs_the_password_and_a_first_code() {
    let lab = Lab::new();
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let enrol = |password: &str| {
        request(Method::POST, "/api/v1/users/me/mfa/totp", &tokens.access, Some(json!({"current_password": password})))
    };
    send(&app, enrol("wrong password!")).await.problem(401, "invalid_credentials");
    let enrolment = send(&app, enrol(PASSWORD)).await;
    assert_eq!(enrolment.status, StatusCode::CREATED);
    let body = enrolment.json();
    let secret = body["secret"].as_str().unwrap();
    assert!(body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Storefront:ada%40example.com?secret="));
    assert!(body["qr_svg"].as_str().unwrap().contains("<svg"));
    assert_eq!(get_me(&app, &tokens.access).await.json()["mfa_enabled"], false, "pending until confirmed");

    let confirm = |code: String| {
        request(Method::POST, "/api/v1/users/me/mfa/totp/confirm", &tokens.access, Some(json!({"code": code})))
    };
    let wrong = if totp(secret, now_step()) == "000000" { "111111" } else { "000000" };
    send(&app, confirm(wrong.into())).await.problem(422, "invalid_code");
    let confirmed = send(&app, confirm(totp(secret, now_step()))).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    let codes = confirmed.json()["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    assert_eq!(get_me(&app, &tokens.access).await.json()["mfa_enabled"], true);
    send(&app, enrol(PASSWORD)).await.problem(409, "conflict");
    send(&app, confirm(totp(secret, now_step() + 1))).await.problem(409, "conflict");
    assert_eq!(audit_actions(&lab.state, AuditAction::UserMfaEnabled).await.len(), 1);
}

#[actix_web::test]
async fn with_totp_on_a_login_needs_a_code_each_accepted_once() {
    let lab = Lab::new();
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let (secret, recovery) = enrolled(&app, &tokens.access).await;

    // The token endpoint says so in RFC 6749's shape, with status 403.
    let grant = format!("grant_type=password&username=ada%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let refused = send(&app, form("/api/v1/auth/token", &grant)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(refused.json()["error"], "mfa_required");
    assert!(refused.json()["error_description"].is_string() && refused.json()["mfa_token"].is_string());

    let token = mfa_token(&app, "ada@example.com").await;
    send(&app, mfa_login(&token, "12345x")).await.problem(401, "invalid_code");
    let next = totp(&secret, now_step() + 1);
    let ok = send(&app, mfa_login(&token, &next)).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    assert_eq!(get_me(&app, ok.json()["access_token"].as_str().unwrap()).await.status, StatusCode::OK);
    // The mfa_token is spent; the code too, and so is every older one.
    send(&app, mfa_login(&token, &next)).await.problem(401, "invalid_token");
    let token = mfa_token(&app, "ada@example.com").await;
    send(&app, mfa_login(&token, &next)).await.problem(401, "invalid_code");
    send(&app, mfa_login(&token, &totp(&secret, now_step()))).await.problem(401, "invalid_code");

    // A recovery code works once, in any case and with its dash or not.
    let code = recovery[0].to_uppercase().replace('-', "");
    assert_eq!(send(&app, mfa_login(&token, &code)).await.status, StatusCode::OK);
    let token = mfa_token(&app, "ada@example.com").await;
    send(&app, mfa_login(&token, &recovery[0])).await.problem(401, "invalid_code");

    // The token endpoint's extension grant.
    let refused = send(&app, form("/api/v1/auth/token", &grant)).await;
    let mfa = refused.json()["mfa_token"].as_str().unwrap().to_owned();
    let otp_grant = format!("grant_type=urn%3Astorefront%3Agrant-type%3Amfa-otp&mfa_token={mfa}&otp=000000x");
    let bad = send(&app, form("/api/v1/auth/token", &otp_grant)).await;
    assert_eq!((bad.status, bad.json()["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let otp_grant = format!("grant_type=urn%3Astorefront%3Agrant-type%3Amfa-otp&mfa_token={mfa}&otp={}", recovery[1]);
    let granted = send(&app, form("/api/v1/auth/token", &otp_grant)).await;
    assert_eq!(granted.status, StatusCode::OK, "{:?}", granted.body);
    assert_eq!(granted.json()["token_type"], "Bearer");
}

#[actix_web::test]
async fn an_mfa_token_expires_and_wrong_codes_count_against_the_login_limit() {
    let lifecycle = LifecycleSettings { mfa_token_ttl: chrono::Duration::seconds(1), ..LifecycleSettings::default() };
    let lab = Lab::with(lifecycle, Some(limited(3)));
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let (secret, _) = enrolled(&app, &tokens.access).await;

    let token = mfa_token(&app, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&app, mfa_login(&token, &totp(&secret, now_step() + 1))).await.problem(401, "invalid_token");

    let token = mfa_token(&app, "ada@example.com").await;
    for _ in 0..3 {
        send(&app, mfa_login(&token, "abcde-fghij")).await.problem(401, "invalid_code");
    }
    let refused = send(&app, mfa_login(&token, &totp(&secret, now_step() + 1))).await;
    refused.problem(429, "rate_limited");
    let login =
        send(&app, post_json("/api/v1/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}))).await;
    login.problem(429, "rate_limited");
}

#[actix_web::test]
async fn turning_totp_off_needs_the_password_and_a_code_and_ends_the_other_sessions() {
    let lab = Lab::new();
    let app = init_service(build_app(lab.state.clone())).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    let (secret, recovery) = enrolled(&app, &tokens.access).await;
    let token = mfa_token(&app, "ada@example.com").await;
    let other = send(&app, mfa_login(&token, &totp(&secret, now_step() + 1))).await.json();
    let other_access = other["access_token"].as_str().unwrap();

    let disable = |password: &str, code: &str| {
        request(
            Method::DELETE,
            "/api/v1/users/me/mfa/totp",
            &tokens.access,
            Some(json!({"current_password": password, "code": code})),
        )
    };
    send(&app, disable("wrong password!", "123456")).await.problem(401, "invalid_credentials");
    send(&app, disable(PASSWORD, "abcde-fghij")).await.problem(401, "invalid_code");
    // Steps up to the one just used are spent; a recovery code stands in.
    send(&app, disable(PASSWORD, &totp(&secret, now_step()))).await.problem(401, "invalid_code");
    let off = send(&app, disable(PASSWORD, &recovery[0])).await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{:?}", off.body);
    assert_eq!(get_me(&app, &tokens.access).await.json()["mfa_enabled"], false, "this session stays");
    get_me(&app, other_access).await.problem(401, "invalid_token");
    login(&app, "ada@example.com", PASSWORD).await;
    send(&app, disable(PASSWORD, "123456")).await.problem(409, "conflict");
    assert_eq!(audit_actions(&lab.state, AuditAction::UserMfaDisabled).await.len(), 1);
}

#[actix_web::test]
async fn an_administrator_resets_a_second_factor_within_its_own_permissions() {
    let lab = Lab::new();
    let app = init_service(build_app(lab.state.clone())).await;
    let admin = signed_in_admin(&app, &lab.state).await;
    let tokens = signed_up(&app, "ada@example.com").await;
    enrolled(&app, &tokens.access).await;
    let ada = get_me(&app, &tokens.access).await.json()["id"].as_str().unwrap().to_owned();

    // It holds every permission of the `user` role (products:create, ai:use) and users:manage;
    // a holder of users:manage alone may not act on an admin (no escalation).
    let actor = principal(&lab.state, &admin.access).await;
    create_role_with(
        &lab.state,
        &actor,
        "support",
        &[Permission::UsersManage, Permission::ProductsCreate, Permission::AiUse],
    )
    .await;
    let support = signed_in_with_role(&app, &lab.state, "support@example.com", "support").await;
    let admin_id = actor.user.id;
    send(&app, request(Method::DELETE, &format!("/api/v1/users/{admin_id}/mfa"), &support.access, None))
        .await
        .problem(403, "forbidden");
    let denied = audit_actions(&lab.state, AuditAction::AccessDenied).await;
    assert_eq!(denied.last().unwrap()["details"]["operation"], "reset_mfa");

    let reset = send(&app, request(Method::DELETE, &format!("/api/v1/users/{ada}/mfa"), &support.access, None)).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{:?}", reset.body);
    get_me(&app, &tokens.access).await.problem(401, "invalid_token");
    let fresh = login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(get_me(&app, &fresh.access).await.json()["mfa_enabled"], false);
    assert_eq!(audit_actions(&lab.state, AuditAction::UserMfaReset).await[0]["target"], format!("user:{ada}"));
    let unknown = uuid::Uuid::now_v7();
    send(&app, request(Method::DELETE, &format!("/api/v1/users/{unknown}/mfa"), &admin.access, None))
        .await
        .problem(404, "not_found");
}
