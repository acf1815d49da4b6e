//! Cross-origin requests, from configuration: explicit origins only (an empty list sends
//! no CORS headers at all), and credentials only together with explicit origins, never
//! with `*`. The API authenticates with bearer tokens, not cookies, so browsers need no
//! credentials mode; it is there for deployments that put the API behind a cookie proxy.

use actix_cors::Cors;
use actix_web::http::{Method, Uri, header};
use actix_web::middleware::Condition;

/// What cross-origin callers may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfig {
    /// `https://shop.example.com`…, or the single entry `*` (any origin, no credentials).
    pub allowed_origins: Vec<String>,
    /// Whether `Access-Control-Allow-Credentials: true` is sent (explicit origins only).
    pub allow_credentials: bool,
    /// How long a browser may cache a preflight answer.
    pub max_age_secs: usize,
}

impl CorsConfig {
    /// Refuses a wildcard with credentials and origins that are not `scheme://host[:port]`.
    ///
    /// # Errors
    /// Why the configuration is refused.
    pub fn validate(&self) -> Result<(), String> {
        let wildcard = self.allowed_origins.iter().any(|o| o == "*");
        if wildcard && self.allowed_origins.len() > 1 {
            return Err("cors.allowed_origins: `*` must be the only entry".into());
        }
        if wildcard && self.allow_credentials {
            return Err("cors.allow_credentials needs explicit origins, never `*`".into());
        }
        for origin in self.allowed_origins.iter().filter(|o| *o != "*") {
            let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            let malformed = rest.is_none_or(|host| host.is_empty() || host.contains('/'));
            if malformed || origin.parse::<Uri>().is_err() {
                return Err(format!("cors.allowed_origins: `{origin}` is not an origin like https://shop.example.com"));
            }
        }
        Ok(())
    }

    /// The middleware; with no origins configured it is not applied at all.
    pub fn middleware(&self) -> Condition<Cors> {
        Condition::new(!self.allowed_origins.is_empty(), self.cors())
    }

    fn cors(&self) -> Cors {
        let mut cors = Cors::default()
            .allowed_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::HeaderName::from_static("idempotency-key"),
                crate::REQUEST_ID_HEADER,
            ])
            .expose_headers([
                crate::REQUEST_ID_HEADER,
                header::LOCATION,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(self.max_age_secs)
            // Another origin's request is served without CORS headers (the browser then
            // withholds the answer), rather than refused: same-origin callers and tools
            // that send an Origin header keep working.
            .block_on_origin_mismatch(false);
        if self.allowed_origins.iter().any(|o| o == "*") {
            cors = cors.send_wildcard().allow_any_origin();
        } else {
            for origin in &self.allowed_origins {
                cors = cors.allowed_origin(origin);
            }
            if self.allow_credentials {
                cors = cors.supports_credentials();
            }
        }
        cors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str], allow_credentials: bool) -> CorsConfig {
        CorsConfig {
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allow_credentials,
            max_age_secs: 60,
        }
    }

    #[test]
    fn a_wildcard_with_credentials_is_refused() {
        assert!(config(&["*"], true).validate().is_err());
        assert!(config(&["*", "https://a.example"], false).validate().is_err());
        assert!(config(&["*"], false).validate().is_ok());
        assert!(config(&["https://a.example", "http://localhost:3000"], true).validate().is_ok());
    }

    #[test]
    fn origins_must_be_scheme_and_host() {
        for bad in ["a.example", "https://", "https://a.example/path", "ftp://a.example"] {
            assert!(config(&[bad], false).validate().is_err(), "{bad}");
        }
    }
}
