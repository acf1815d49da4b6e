//! What the end-to-end tests of this crate share: a client of a running server's API, which
//! knows the settings the server was built with.
#![allow(dead_code, clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_app::Registration;
use storefront_domain::{PlainPassword, RoleName};
use storefront_server::Application;
use storefront_server::build_services;
use storefront_server::settings::Settings;
use storefront_server::store::Store;

/// The API of a server started in this process, and the settings it runs with.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// The password of every account the test makes.
    pub password: &'static str,
}

impl Api {
    /// Builds the server from `settings`, runs it in the background and returns its API.
    pub async fn spawn(settings: Settings, password: &'static str) -> Self {
        let app = Application::build(settings.clone()).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self { base, client: reqwest::Client::new(), settings, password }
    }

    /// One request; the body is `null` when it is not JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `storefront worker` with the server's configuration (database, Redis and its key
    /// prefix, SMTP), given through the environment as a deployment would give it, with
    /// short polls and no metrics port; the caller adds its own event timings and spawns it.
    pub fn worker_command(&self) -> std::process::Command {
        let settings = &self.settings;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_storefront"));
        command
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("STOREFRONT_ENV", "test")
            .env("DATABASE_URL", settings.database.url.as_deref().unwrap_or_default())
            .env("STOREFRONT__REDIS__URL", settings.redis.url.as_deref().unwrap_or_default())
            .env("STOREFRONT__REDIS__KEY_PREFIX", &settings.redis.key_prefix)
            .env("STOREFRONT__REDIS__CLUSTER", settings.redis.cluster.to_string())
            .env("STOREFRONT__MAIL__BACKEND", "smtp")
            .env("STOREFRONT__MAIL__SMTP_PORT", settings.mail.smtp_port.to_string())
            .env("STOREFRONT__MAIL__FROM", &settings.mail.from)
            .env("STOREFRONT__EVENTS__POLL_INTERVAL_MS", "100")
            .env("STOREFRONT__EVENTS__WORKER_METRICS_PORT", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    }

    /// Logs `email` in and returns its access token.
    pub async fn login(&self, email: &str) -> String {
        let body = json!({"email": email, "password": self.password});
        let (status, tokens) = self.call(reqwest::Method::POST, "/api/v1/auth/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::OK);
        tokens["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers a customer through the API and returns its access token.
    pub async fn register(&self, email: &str, name: &str) -> String {
        let body = json!({"email": email, "password": self.password, "name": name});
        let (status, _) = self.call(reqwest::Method::POST, "/api/v1/users", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED);
        self.login(email).await
    }

    /// An account holding `role`, made as `storefront create-admin` makes one: through the
    /// services, on the server's database.
    pub async fn create_with_role(&self, email: &str, name: &str, role: &str) {
        let store = Store::from_settings(&self.settings).await.unwrap();
        let services = build_services(&self.settings, &store).unwrap();
        let registration = Registration {
            email: email.into(),
            password: PlainPassword::new(self.password.to_owned()),
            name: name.into(),
        };
        services.accounts.create_with_role(registration, RoleName::parse(role).unwrap()).await.unwrap();
    }
}
