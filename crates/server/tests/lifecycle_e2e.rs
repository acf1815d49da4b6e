//! The account life cycle end to end: the server on PostgreSQL with its in-process
//! dispatcher sending real mail to an SMTP server (aiosmtpd); the test reads the links out
//! of the mails as a user would and completes the email verification, a password reset, an
//! email change and a login with a TOTP second factor (codes computed from the secret).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use storefront_auth::RfcTotp;
use storefront_domain::mfa::totp_step;
use storefront_server::RunEnv;
use storefront_server::settings::{MailBackend, Settings};
use storefront_testkit::database::TestDatabase;
use storefront_testkit::smtp::{ReceivedMail, SmtpSink};
use support::Api;

mod support;

const PASSWORD: &str = "lanterns on the quay 7";
const APP_URL: &str = "https://shop.example.test";

async fn spawn_app(smtp_port: u16) -> (Api, TestDatabase) {
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
    settings.public.app_url = APP_URL.into();
    (Api::spawn(settings, PASSWORD).await, db)
}

/// The mails received after the first `seen`, once there are `count` more.
async fn next_mails(sink: &SmtpSink, seen: &mut usize, count: usize) -> Vec<ReceivedMail> {
    let all = sink.wait_for(*seen + count, Duration::from_secs(20)).await;
    assert!(all.len() >= *seen + count, "{} mails, expected {}", all.len(), *seen + count);
    let fresh = all[*seen..].to_vec();
    *seen = all.len();
    fresh
}

/// The token of the link to `{APP_URL}/{page}` in the mail's text part; the HTML part
/// carries the same link.
fn link_token(mail: &ReceivedMail, page: &str) -> String {
    let text = mail.plain_text();
    let prefix = format!("{APP_URL}/{page}?token=");
    let start = text.find(&prefix).unwrap_or_else(|| panic!("no {prefix} in {text}")) + prefix.len();
    let token: String = text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c)).collect();
    let html = mail.html().expect("an HTML alternative");
    assert!(html.contains(&format!("{prefix}{token}")), "{html}");
    token
}

fn header(mail: &ReceivedMail, name: &str) -> String {
    mail.header(name).unwrap_or_default()
}

async fn login(api: &Api, email: &str, password: &str) -> (StatusCode, Value) {
    api.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reset_change_email_and_log_in_with_totp_through_real_mail() {
    let sink = SmtpSink::start();
    let (api, _db) = spawn_app(sink.port).await;
    let mut seen = 0;

    // Registration: the welcome carries the verification link.
    let access = api.register("ada@example.com", "Ada Lovelace").await;
    let welcome = next_mails(&sink, &mut seen, 1).await.remove(0);
    assert_eq!(header(&welcome, "Subject"), "Welcome to Storefront");
    let token = link_token(&welcome, "verify-email");
    let (status, user) = api.call(Method::POST, "/api/v1/auth/email/verify", None, Some(json!({"token": token}))).await;
    assert_eq!((status, user["email_verified"].as_bool()), (StatusCode::OK, Some(true)), "{user}");
    let (status, _) = api.call(Method::POST, "/api/v1/auth/email/verify", None, Some(json!({"token": token}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the link works once");

    // Password reset: a link to the account, nothing for an unknown address.
    for email in ["nobody@example.com", "ada@example.com"] {
        let (status, _) =
            api.call(Method::POST, "/api/v1/auth/password/forgot", None, Some(json!({"email": email}))).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let reset_mail = next_mails(&sink, &mut seen, 1).await.remove(0);
    assert_eq!(header(&reset_mail, "To"), "\"Ada Lovelace\" <ada@example.com>");
    let token = link_token(&reset_mail, "reset-password");
    let new_password = "a fresh password by the sea";
    let body = json!({"token": token, "new_password": new_password});
    let (status, _) = api.call(Method::POST, "/api/v1/auth/password/reset", None, Some(body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let notice = next_mails(&sink, &mut seen, 1).await.remove(0);
    assert_eq!(header(&notice, "Subject"), "Your Storefront password was changed");
    let (status, _) = api.call(Method::GET, "/api/v1/users/me", Some(&access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "every session ended");
    assert_eq!(login(&api, "ada@example.com", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let (status, tokens) = login(&api, "ada@example.com", new_password).await;
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Email change: a link to the new address, a notice to the old one.
    let body = json!({"new_email": "ada.king@example.com", "current_password": new_password});
    let (status, _) = api.call(Method::POST, "/api/v1/users/me/email", Some(&access), Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mails = next_mails(&sink, &mut seen, 2).await;
    let link =
        mails.iter().find(|m| header(m, "To").contains("ada.king@example.com")).expect("a link to the new address");
    let old = mails.iter().find(|m| header(m, "To").contains("<ada@example.com>")).expect("a notice to the old one");
    assert!(old.plain_text().contains("ada.king@example.com") && !old.plain_text().contains("token="));
    let token = link_token(link, "confirm-email-change");
    let (status, user) =
        api.call(Method::POST, "/api/v1/auth/email/confirm-change", None, Some(json!({"token": token}))).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!((user["email"].as_str(), user["email_verified"].as_bool()), (Some("ada.king@example.com"), Some(true)));

    // TOTP: enrol, confirm with a code computed from the secret, then log in with a code.
    let body = json!({"current_password": new_password});
    let (status, enrolment) = api.call(Method::POST, "/api/v1/users/me/mfa/totp", Some(&access), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    let step = totp_step(chrono::Utc::now());
    let code = RfcTotp::code_at_step(&secret, step).unwrap();
    let (status, codes) =
        api.call(Method::POST, "/api/v1/users/me/mfa/totp/confirm", Some(&access), Some(json!({"code": code}))).await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);

    let (status, problem) = login(&api, "ada.king@example.com", new_password).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("mfa_required")), "{problem}");
    let mfa_token = problem["mfa_token"].as_str().unwrap().to_owned();
    let body = json!({"mfa_token": mfa_token, "code": code});
    let (status, refused) = api.call(Method::POST, "/api/v1/auth/mfa", None, Some(body)).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_code")),
        "a code works once"
    );
    let next = RfcTotp::code_at_step(&secret, step + 1).unwrap();
    let body = json!({"mfa_token": mfa_token, "code": next});
    let (status, tokens) = api.call(Method::POST, "/api/v1/auth/mfa", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = api.call(Method::GET, "/api/v1/users/me", Some(access), None).await;
    assert_eq!((status, me["mfa_enabled"].as_bool()), (StatusCode::OK, Some(true)));
}
