//! The `storefront` binary's subcommands, run as a user would run them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use storefront_testkit::database::TestDatabase;

fn storefront(db: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storefront"));
    command.env("STOREFRONT_ENV", "test").env("DATABASE_URL", &db.url).env_remove("STOREFRONT__DATABASE__URL");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_creates_an_admin_once_and_refuses_a_taken_email() {
    let db = TestDatabase::create().await;
    let first = storefront(&db)
        .args(["create-admin", "--email", "Root@Example.com", "--name", "Root"])
        .env("STOREFRONT_ADMIN_PASSWORD", "a long admin passphrase")
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));

    let second = storefront(&db)
        .args(["create-admin", "--email", "root@example.com"])
        .env("STOREFRONT_ADMIN_PASSWORD", "a long admin passphrase")
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_without_a_database_says_what_is_missing() {
    let output = Command::new(env!("CARGO_BIN_EXE_storefront"))
        .args(["create-admin", "--email", "root@example.com"])
        .env("STOREFRONT_ENV", "test")
        .env("STOREFRONT_ADMIN_PASSWORD", "a long admin passphrase")
        .env_remove("DATABASE_URL")
        .env_remove("STOREFRONT__DATABASE__URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));
}

#[test]
fn openapi_prints_a_3_1_document() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_storefront")).arg("openapi").env("STOREFRONT_ENV", "test").output().unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/users/me"].is_object());
}

#[test]
fn production_refuses_to_start_without_a_jwt_secret() {
    let output = Command::new(env!("CARGO_BIN_EXE_storefront"))
        .arg("serve")
        .env("STOREFRONT_ENV", "production")
        .env_remove("STOREFRONT__AUTH__JWT_SECRET")
        .env("STOREFRONT__AUTH__PASSWORD_PEPPER", "pepper")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET"));
}

#[test]
fn a_short_jwt_secret_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_storefront"))
        .arg("serve")
        .env("STOREFRONT_ENV", "production")
        .env("STOREFRONT__AUTH__JWT_SECRET", "too-short")
        .env("STOREFRONT__AUTH__PASSWORD_PEPPER", "pepper")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("32 bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_refuses_to_run_in_production_and_says_why() {
    let db = TestDatabase::create().await;
    let output = storefront(&db)
        .arg("seed-demo")
        .env("STOREFRONT_ENV", "production")
        // Everything production needs, so that the refusal is seed-demo's own.
        .env("STOREFRONT__AUTH__JWT_SECRET", "a-production-secret-of-at-least-32-bytes!")
        .env("STOREFRONT__AUTH__PASSWORD_PEPPER", "a-production-pepper")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("seed-demo") && stderr.contains("production"), "{stderr}");

    // The same database outside production is seeded.
    let seeded = storefront(&db).arg("seed-demo").output().unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
}
