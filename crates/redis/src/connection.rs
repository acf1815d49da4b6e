//! One Redis connection for the whole process: redis-rs's `ConnectionManager` (multiplexed,
//! reconnects by itself), opened on first use so that the server starts while Redis is
//! down, with every command bounded in time.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS).
    pub url: String,
    /// Put before every key, so that several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    /// The longest a connection attempt or a command may take.
    pub timeout: Duration,
}

impl RedisSettings {
    /// Keys under `storefront:`, 500 ms per command.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), key_prefix: "storefront:".into(), timeout: Duration::from_millis(500) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    #[error("redis: {0}")]
    Command(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// A shared connection to Redis; clones share it.
#[derive(Clone)]
pub struct RedisConnection {
    client: redis::Client,
    manager: std::sync::Arc<OnceCell<ConnectionManager>>,
    settings: RedisSettings,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisConnection").field("key_prefix", &self.settings.key_prefix).finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Checks the URL; connects on first use.
    ///
    /// # Errors
    /// `InvalidUrl` for a URL redis-rs cannot use.
    pub fn new(settings: RedisSettings) -> Result<Self, RedisError> {
        let client = redis::Client::open(settings.url.as_str()).map_err(|e| RedisError::InvalidUrl(e.to_string()))?;
        Ok(Self { client, manager: std::sync::Arc::new(OnceCell::new()), settings })
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// `key` under this deployment's prefix.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.settings.key_prefix)
    }

    /// The connection, opening it if this is the first use (a failed attempt is not
    /// remembered: the next call tries again). Once open, it reconnects by itself.
    pub async fn manager(&self) -> Result<ConnectionManager, RedisError> {
        let timeout = self.settings.timeout;
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                self.bounded(ConnectionManager::new_with_config(self.client.clone(), config)).await
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs a Redis future within the configured timeout.
    pub async fn bounded<T>(
        &self,
        command: impl Future<Output = Result<T, redis::RedisError>>,
    ) -> Result<T, RedisError> {
        match tokio::time::timeout(self.settings.timeout, command).await {
            Ok(outcome) => Ok(outcome?),
            Err(_) => Err(RedisError::Timeout(self.settings.timeout)),
        }
    }
}
