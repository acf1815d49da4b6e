//! The demo catalogue: seeded into the memory store at start-up in development, and into
//! PostgreSQL on demand with `storefront seed-demo`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use storefront_server::{Application, RunEnv, Settings};
use storefront_testkit::database::TestDatabase;

async fn product_total(base: &str) -> u64 {
    let body: Value = reqwest::get(format!("{base}/api/v1/products?limit=1")).await.unwrap().json().await.unwrap();
    body["total"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_starts_with_the_demo_catalogue_when_configured_to() {
    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.port = 0;
    settings.database.url = None;
    settings.catalog.seed_demo_on_memory = true;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let mut total = 0;
    for _ in 0..100 {
        total = product_total(&base).await;
        if total == 320 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, 320);
    let categories: Value = reqwest::get(format!("{base}/api/v1/categories")).await.unwrap().json().await.unwrap();
    assert_eq!(categories.as_array().unwrap().len(), 8);
    let rated: Value =
        reqwest::get(format!("{base}/api/v1/products?sort=-rating&limit=1")).await.unwrap().json().await.unwrap();
    assert!(rated["items"][0]["rating_avg"].is_number(), "{rated}");
    let login = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "admin@demo.storefront.test", "password": "storefront demo 2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_loads_postgres_once_and_refuses_to_load_it_twice() {
    let db = TestDatabase::create().await;
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_storefront"))
            .arg("seed-demo")
            .env("STOREFRONT_ENV", "test")
            .env("DATABASE_URL", &db.url)
            .env_remove("STOREFRONT__DATABASE__URL")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let second = run();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already there"));

    let mut settings = Settings::load_for(RunEnv::Test).unwrap();
    settings.server.port = 0;
    settings.database.url = Some(db.url.clone());
    settings.catalog.seed_demo_on_memory = true; // never applies to PostgreSQL
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    assert_eq!(product_total(&base).await, 320);

    // Orders in every status, so that the statistics mean something.
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "admin@demo.storefront.test", "password": "storefront demo 2026"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stats: Value = client
        .get(format!("{base}/api/v1/admin/stats"))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for status in ["pending", "paid", "shipped", "delivered", "cancelled"] {
        assert!(stats["orders_by_status"][status].as_i64().unwrap() > 0, "no {status} order: {stats}");
    }
    assert!(stats["revenue_cents"].as_i64().unwrap() > 0 && !stats["top_products"].as_array().unwrap().is_empty());
}
