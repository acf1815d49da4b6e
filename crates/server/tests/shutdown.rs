//! Graceful shutdown of the real binary: on SIGTERM (and SIGINT) it stops accepting
//! connections, lets the request in flight finish, and exits 0.
//!
//! The slow request is a registration at a high bcrypt cost: slow for a real reason, with
//! no test-only endpoint in the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// High enough that hashing takes seconds, so the signal surely lands mid-request.
const SLOW_BCRYPT_COST: &str = "14";

/// Starts `storefront serve` on the in-memory store and a free port; the child and its port.
fn start(signal_grace_secs: u64) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_storefront"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STOREFRONT_ENV", "test")
        .env("STOREFRONT__SERVER__PORT", "0")
        .env("STOREFRONT__SERVER__WORKERS", "1")
        .env("STOREFRONT__SERVER__SHUTDOWN_TIMEOUT_SECS", signal_grace_secs.to_string())
        .env("STOREFRONT__AUTH__BCRYPT_COST", SLOW_BCRYPT_COST)
        .env("STOREFRONT__LOG__FORMAT", "json")
        .env("STOREFRONT__LOG__FILTER", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("the server exited before listening").unwrap();
        let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
        if entry["message"] == "storefront listening" {
            break u16::try_from(entry["port"].as_u64().unwrap()).unwrap();
        }
    };
    // Keep reading so that the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, port)
}

/// A registration, sent at once; the answer, and when it came, are read by the returned thread.
fn slow_registration(port: u16) -> std::thread::JoinHandle<(String, Instant)> {
    let body = r#"{"email":"slow@example.com","password":"a slow and careful hash","name":"Slow"}"#;
    let request = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    std::thread::spawn(move || {
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        (answer, Instant::now())
    })
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

fn wait_for_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Connections are refused soon after the signal (the listener is closed at once).
fn refuses_new_connections(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn stops_gracefully_on(signal_name: &str) {
    let (mut child, port) = start(60);
    let in_flight = slow_registration(port);
    // Time for the request to reach its handler; the hashing takes far longer.
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    signal(&child, signal_name);
    assert!(refuses_new_connections(port), "new connections were still accepted after {signal_name}");
    let (answer, answered) = in_flight.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "the in-flight request did not finish: {answer:?}");
    assert!(answered > signalled, "the request was not in flight when the signal came");
    let status = wait_for_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_0() {
    stops_gracefully_on("TERM");
}

#[test]
fn sigint_does_the_same() {
    stops_gracefully_on("INT");
}
