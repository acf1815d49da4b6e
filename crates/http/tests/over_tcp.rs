//! The app behind a real `HttpServer` on a loopback port, spoken to over raw TCP: what the
//! in-process test service cannot show (HEAD bodies, chunked bodies over the limit, the
//! dispatcher's handling of every response).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::HttpServer;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use storefront_http::build_app;

/// Starts the app on a random loopback port; the server lives as long as the test's runtime.
fn spawn_app() -> SocketAddr {
    let state = state();
    let server = HttpServer::new(move || build_app(state.clone())).workers(1).bind(("127.0.0.1", 0)).unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

/// Sends raw bytes and reads the whole answer (the request asks to close the connection).
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(&request).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn head_answers_headers_without_a_body() {
    let addr = spawn_app();
    let answer = exchange(addr, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_lowercase().contains("x-request-id:"));
    assert!(answer.ends_with("\r\n\r\n"), "a body was sent: {answer:?}");
}

#[actix_web::test]
async fn a_chunked_body_over_the_limit_answers_413() {
    let addr = spawn_app();
    let mut request = b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = "x".repeat(8 * 1024);
    for _ in 0..10 {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = exchange(addr, request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"payload_too_large\""), "{answer}");
}

#[actix_web::test]
async fn swagger_uis_authorize_request_gets_tokens() {
    let addr = spawn_app();
    let body = r#"{"email":"ada@example.com","password":"violet lantern 42 harbor","name":"Ada"}"#;
    let register = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert!(exchange(addr, register.into_bytes()).await.starts_with("HTTP/1.1 201"));
    // What Swagger UI's password flow posts by default (client credentials in a Basic header).
    let form = "grant_type=password&username=ada%40example.com&password=violet%20lantern%2042%20harbor&scope=";
    let token = format!(
        "POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic Og==\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let answer = exchange(addr, token.into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"token_type\":\"Bearer\""), "{answer}");
    assert!(answer.to_lowercase().contains("cache-control: no-store"), "{answer}");
}
