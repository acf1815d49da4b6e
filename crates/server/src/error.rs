//! `StartupError`: why the process could not start (its store, hasher, mail, listener or
//! configuration), shared by the wiring modules.

use storefront_app::StoreError;

/// Why the process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] StoreError),
    #[error("password hasher: {0}")]
    Hasher(String),
    #[error("mail: {0}")]
    Mail(String),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("configuration: {0}")]
    Config(String),
}
