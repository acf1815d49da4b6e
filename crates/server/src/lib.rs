//! The Storefront binary's library half: configuration, wiring of adapters into services,
//! and the HTTP server's life cycle. `main.rs` only parses the command line.

pub mod application;
pub mod cli;
pub mod events;
pub mod seed;
pub mod settings;
pub mod telemetry;

pub use application::{Application, StartupError, build_services};
pub use settings::{RunEnv, Settings};
