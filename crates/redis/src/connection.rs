//! One Redis connection for the whole process, to a single Redis or to a Redis Cluster:
//! redis-rs's `ConnectionManager` (multiplexed, reconnects by itself) or its cluster
//! connection (one multiplexed connection per node, follows `MOVED`/`ASK` and topology
//! changes by itself), opened on first use so that the server starts while Redis is down,
//! with every command bounded in time.
//!
//! On a cluster, every command and every script touches one key, and every pipeline or
//! transaction touches keys of one hash slot: the event stream's keys share the hash tag
//! `{<stream>}` (see `events.rs`), a rate-limit script touches its one key.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::future::Future;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS); for a cluster, the
    /// URLs of one or more of its nodes, comma-separated (the rest are discovered).
    pub url: String,
    /// `url` names nodes of a Redis Cluster.
    pub cluster: bool,
    /// Put before every key, so that several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    /// The longest a connection attempt or a command may take.
    pub timeout: Duration,
}

impl RedisSettings {
    /// A single Redis; keys under `storefront:`, 500 ms per command.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), cluster: false, key_prefix: "storefront:".into(), timeout: Duration::from_millis(500) }
    }

    /// A Redis Cluster reached through `nodes` (comma-separated URLs of some of its nodes).
    pub fn cluster(nodes: impl Into<String>) -> Self {
        Self { cluster: true, ..Self::new(nodes) }
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

#[derive(Clone)]
enum Client {
    Single(redis::Client),
    // Boxed: twice a single client's size, and made once per process.
    Cluster(Box<ClusterClient>),
}

/// An open connection, to a single Redis or to a cluster; clones share it.
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_command(cmd),
            RedisConn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(conn) => conn.get_db(),
            RedisConn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A shared connection to Redis; clones share it.
#[derive(Clone)]
pub struct RedisConnection {
    client: Client,
    connection: std::sync::Arc<OnceCell<RedisConn>>,
    settings: RedisSettings,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisConnection")
            .field("cluster", &self.settings.cluster)
            .field("key_prefix", &self.settings.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Checks the URL (each node's, for a cluster); connects on first use.
    ///
    /// # Errors
    /// `InvalidUrl` for a URL redis-rs cannot use, or a cluster without a node.
    pub fn new(settings: RedisSettings) -> Result<Self, RedisError> {
        let invalid = |e: redis::RedisError| RedisError::InvalidUrl(e.to_string());
        let client = if settings.cluster {
            let nodes: Vec<&str> = settings.url.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
            if nodes.is_empty() {
                return Err(RedisError::InvalidUrl("a Redis Cluster needs the URL of at least one node".into()));
            }
            for node in &nodes {
                redis::Client::open(*node).map_err(invalid)?;
            }
            let client = ClusterClientBuilder::new(nodes)
                .connection_timeout(settings.timeout)
                .response_timeout(settings.timeout)
                .retries(2)
                .max_retry_wait(1000)
                .build()
                .map_err(invalid)?;
            Client::Cluster(Box::new(client))
        } else {
            Client::Single(redis::Client::open(settings.url.as_str()).map_err(invalid)?)
        };
        Ok(Self { client, connection: std::sync::Arc::new(OnceCell::new()), settings })
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
    pub async fn connection(&self) -> Result<RedisConn, RedisError> {
        let timeout = self.settings.timeout;
        let connection = self
            .connection
            .get_or_try_init(|| async {
                match &self.client {
                    Client::Single(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(timeout))
                            .set_response_timeout(Some(timeout))
                            .set_number_of_retries(1)
                            .set_max_delay(Duration::from_secs(1));
                        self.bounded(ConnectionManager::new_with_config(client.clone(), config))
                            .await
                            .map(RedisConn::Single)
                    }
                    Client::Cluster(client) => {
                        self.bounded(client.get_async_connection()).await.map(RedisConn::Cluster)
                    }
                }
            })
            .await?;
        Ok(connection.clone())
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
