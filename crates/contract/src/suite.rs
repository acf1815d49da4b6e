//! The contract tests, one module per area of the ports. Each test takes fresh `Stores`,
//! uses only the ports, and asserts what the ports' doc comments promise.

pub mod admin;
pub mod principals;
pub mod rotation;
pub mod sessions;
pub mod support;
pub mod users;
