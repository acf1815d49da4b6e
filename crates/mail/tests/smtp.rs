//! The SMTP mailer against a real SMTP server (aiosmtpd), and the log mailer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use storefront_app::ports::{Mail, Mailer};
use storefront_mail::{LogMailer, SmtpMailer, SmtpSecurity, SmtpSettings};
use storefront_testkit::smtp::SmtpSink;

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        credentials: None,
        from: "Storefront <no-reply@storefront.test>".into(),
        timeout: Duration::from_secs(5),
        pool_size: 4,
    }
}

fn mail() -> Mail {
    Mail {
        to: "ada@example.com".into(),
        to_name: "Ada Lovelace".into(),
        subject: "Welcome to Storefront".into(),
        body: "Hello Ada,\n\nyour account is ready.\n".into(),
        html: None,
        dedupe_key: "01938a4e-6f70-7c52-9a1e-3b1f8d3c2a10.welcome_email".into(),
    }
}

#[tokio::test]
async fn the_smtp_mailer_delivers_to_a_real_smtp_server_with_recipient_subject_and_body() {
    let sink = SmtpSink::start();
    let mailer = SmtpMailer::new(&settings(sink.port)).unwrap();

    mailer.send(&mail()).await.unwrap();

    let received = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert_eq!(message.header("To").as_deref(), Some("\"Ada Lovelace\" <ada@example.com>"));
    assert_eq!(message.header("From").as_deref(), Some("Storefront <no-reply@storefront.test>"));
    assert_eq!(message.header("Subject").as_deref(), Some("Welcome to Storefront"));
    assert_eq!(
        message.header("Message-ID").as_deref(),
        Some("<01938a4e-6f70-7c52-9a1e-3b1f8d3c2a10.welcome_email@storefront>"),
        "the same id on every attempt"
    );
    assert!(message.body().contains("your account is ready."), "{}", message.raw);
}

#[tokio::test]
async fn a_mail_with_html_is_sent_as_multipart_alternative_with_both_bodies() {
    let sink = SmtpSink::start();
    let mailer = SmtpMailer::new(&settings(sink.port)).unwrap();
    let link = "https://shop.example.test/verify-email?token=q3Jt0Z2y1bYh3kqM6b8sS9yX0vD4eW7nJ5rT2uL1oPc";
    let mail = Mail {
        body: format!("Hello Ada,\n\nconfirm your address:\n\n{link}\n"),
        html: Some(format!("<p>Hello Ada,</p><p><a href=\"{link}\">Confirm my address</a></p>")),
        ..mail()
    };

    mailer.send(&mail).await.unwrap();

    let message = &sink.wait_for(1, Duration::from_secs(10)).await[0];
    assert!(message.header("Content-Type").unwrap().starts_with("multipart/alternative"), "{}", message.raw);
    assert!(message.plain_text().contains(link), "{}", message.raw);
    assert!(message.html().unwrap().contains(&format!("<a href=\"{link}\">")), "{}", message.raw);
}

#[tokio::test]
async fn a_relay_that_is_down_is_an_error_to_retry_not_a_panic() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mailer = SmtpMailer::new(&settings(port)).unwrap();
    assert!(mailer.send(&mail()).await.is_err());
}

#[tokio::test]
async fn a_sender_that_is_not_an_address_is_refused_at_start_up() {
    let bad = SmtpSettings { from: "not an address".into(), ..settings(25) };
    assert!(SmtpMailer::new(&bad).is_err());
}

#[tokio::test]
async fn the_log_mailer_accepts_every_mail() {
    LogMailer.send(&mail()).await.unwrap();
}
