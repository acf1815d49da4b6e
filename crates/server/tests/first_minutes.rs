//! What a newcomer sees of the `storefront` binary: the start-up banner, colour only on a
//! terminal, misspelt settings named, errors that say where and why, once, and a closed
//! pipe that is not an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary with a clean environment (only `PATH`), so that the developer's own
/// `STOREFRONT__*` or `DATABASE_URL` cannot change what is tested.
fn storefront(env: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storefront"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STOREFRONT_ENV", env)
        // Run from a directory without `config/`, as an installed binary would.
        .current_dir(std::env::temp_dir());
    command
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_starts_with_one_banner_after_the_demo_is_in_and_a_demo_login_works_at_once() {
    let mut child = storefront("development")
        .env("STOREFRONT__SERVER__PORT", "0")
        .env("STOREFRONT__SERVER__WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let banner_start = loop {
        assert!(Instant::now() < deadline, "no banner in time");
        let line = lines.next().expect("the server exited before its banner").unwrap();
        if line.contains(" listening on http://") {
            break line;
        }
        before.push(line);
    };
    let banner = [banner_start, lines.next().unwrap().unwrap(), lines.next().unwrap().unwrap()].join("\n");
    std::thread::spawn(move || lines.for_each(drop));

    let address = banner.split(" listening on ").nth(1).unwrap().split(',').next().unwrap().to_owned();
    assert!(address.starts_with("http://127.0.0.1:"), "{banner}");
    for expected in [
        "(development)".to_owned(),
        "in-memory store".to_owned(),
        format!("{address}/docs"),
        format!("{address}/openapi.json"),
        "\"storefront demo 2026\"".to_owned(),
        "admin@demo.storefront.test".to_owned(),
        "carol@demo.storefront.test".to_owned(),
    ] {
        assert!(banner.contains(&expected), "the banner lacks {expected}:\n{banner}");
    }
    // Not a terminal: no colour codes anywhere.
    assert!(!banner.contains('\u{1b}') && before.iter().all(|l| !l.contains('\u{1b}')), "{banner}");
    // The demo's mails come before the banner, one line each, without their bodies.
    let welcomes = before.iter().filter(|l| l.contains("subject=Welcome to Storefront")).count();
    assert_eq!(welcomes, 5, "{before:#?}");
    assert!(before.iter().all(|l| !l.contains("Happy shopping") && !l.contains("mail sent")), "{before:#?}");
    assert!(before.len() < 80, "{} lines before the banner", before.len());

    let reply = reqwest::Client::new()
        .post(format!("{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "admin@demo.storefront.test", "password": "storefront demo 2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), reqwest::StatusCode::OK);
    let root = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let root = root.get(format!("{address}/")).send().await.unwrap();
    assert_eq!(root.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(root.headers()["location"], "/docs");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_misspelt_environment_variable_is_a_warning_naming_the_closest_setting() {
    let output = storefront("development")
        .arg("openapi")
        .env("STOREFRONT__SERVER__PROT", "9000")
        // Not settings (one underscore), and no warning about them.
        .env("STOREFRONT_ADMIN_PASSWORD", "x")
        .env("STOREFRONT_CONFIG_DIR", "config")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("STOREFRONT__SERVER__PROT") && stderr.contains("did you mean server.port?"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_misspelt_setting_stops_production() {
    let output = storefront("production")
        .arg("serve")
        .env("STOREFRONT__AUTH__JWT_SECRET", "a production secret of at least 32 bytes")
        .env("STOREFRONT__AUTH__PASSWORD_PEPPER", "pepper")
        .env("STOREFRONT__SERVER__PROT", "9000")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("STOREFRONT__SERVER__PROT") && stderr.contains("did you mean server.port?"), "{stderr}");
}

#[test]
fn a_misspelt_key_in_a_configuration_file_is_named_too() {
    let dir = std::env::temp_dir().join(format!("storefront-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("development.toml"), "[sever]\nport = 9000\n").unwrap();
    let output = storefront("development").arg("openapi").env("STOREFRONT_CONFIG_DIR", &dir).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`sever.port`") && stderr.contains("did you mean server.port?"), "{stderr}");
}

#[test]
fn no_warning_without_a_misspelt_setting() {
    let output = storefront("development").arg("openapi").env("STOREFRONT__SERVER__PORT", "9000").output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// Runs `storefront openapi` with a misspelt setting (so that it logs a warning) under
/// `script`, which gives it a terminal; what the terminal showed.
fn on_a_terminal(no_color: Option<&str>) -> String {
    let mut command = Command::new("script");
    command
        .args([
            "--quiet",
            "--return",
            "--command",
            &format!("{} openapi", env!("CARGO_BIN_EXE_storefront")),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STOREFRONT_ENV", "development")
        .env("STOREFRONT__SERVER__PROT", "9000")
        .current_dir(std::env::temp_dir());
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let output = command.output().expect("`script` (util-linux) runs the binary on a terminal");
    assert!(output.status.success());
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(shown.contains("did you mean server.port?"), "{shown}");
    shown
}

#[test]
fn colour_on_a_terminal_unless_no_color_is_set() {
    let warning = |shown: &str| shown.lines().find(|l| l.contains("did you mean")).unwrap().to_owned();
    assert!(warning(&on_a_terminal(None)).contains('\u{1b}'));
    assert!(!warning(&on_a_terminal(Some("1"))).contains('\u{1b}'));
}

#[test]
fn openapi_into_a_closed_pipe_ends_quietly() {
    let mut child = storefront("test").arg("openapi").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The reader is gone before the document (far over a pipe's buffer) is written.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn an_unreachable_database_is_named_with_the_reason_once() {
    let port = closed_port();
    let output = storefront("test")
        .arg("serve")
        .env("DATABASE_URL", format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .env("STOREFRONT__SERVER__PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "said more than once:\n{stderr}");
}
