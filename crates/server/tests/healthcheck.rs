//! `storefront healthcheck`, the container image's HEALTHCHECK: exit status 0 while the
//! process on the configured port answers `/health` with 200, 1 when nothing listens or it
//! answers anything else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::process::{Command, Output};
use storefront_server::RunEnv;
use storefront_server::settings::Settings;

fn healthcheck(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storefront"));
    command.arg("healthcheck").args(args).env_clear().env("STOREFRONT_ENV", "test");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_instance_is_healthy_on_its_port_and_the_worker_flag_probes_the_metrics_port() {
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.port = 0;
    let app = storefront_server::Application::build(settings).await.unwrap();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());

    let env = [("STOREFRONT__SERVER__PORT", port.to_string())];
    let output = tokio::task::spawn_blocking(move || healthcheck(&env, &[])).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // `--worker` probes events.worker_metrics_port (here the same server: it serves /health).
    let env = [("STOREFRONT__EVENTS__WORKER_METRICS_PORT", port.to_string())];
    let output = tokio::task::spawn_blocking(move || healthcheck(&env, &["--worker"])).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn nothing_listening_is_unhealthy() {
    let output = healthcheck(&[("STOREFRONT__SERVER__PORT", free_port().to_string())], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("healthcheck"), "{output:?}");
}

#[test]
fn an_answer_other_than_200_is_unhealthy() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0_u8; 1024];
        let _ = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let output = healthcheck(&[("STOREFRONT__SERVER__PORT", port.to_string())], &[]);
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /health HTTP/1.1"), "{request}");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("503"), "{output:?}");
}
