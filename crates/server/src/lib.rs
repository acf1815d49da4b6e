//! The Storefront binary's library half: configuration, wiring of adapters into services,
//! and the HTTP server's life cycle. `main.rs` only parses the command line.

pub mod application;
mod assistant;
pub mod cli;
mod error;
pub mod events;
pub mod healthcheck;
pub mod seed;
pub mod settings;
mod signals;
pub mod store;
pub mod telemetry;

pub use application::{Application, build_services};
pub use error::StartupError;
pub use settings::{RunEnv, Settings};
