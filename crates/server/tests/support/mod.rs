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
