//! The catalogue's contract tests, one module per area of the catalogue ports. Each test
//! takes fresh `CatalogStores`, uses only the ports, and asserts what the ports' doc
//! comments and the domain's reference semantics promise.

pub mod accounts;
pub mod categories;
pub mod cursors;
pub mod likes;
pub mod listing;
pub mod moderation;
pub mod products;
pub mod reviews;
pub mod support;
