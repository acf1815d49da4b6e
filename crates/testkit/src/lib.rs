//! Test support shared by every crate's tests: per-test PostgreSQL databases created from a
//! migrated template, and ready-wired application services on either store.

pub mod database;
pub mod services;
