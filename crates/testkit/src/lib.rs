//! Test support shared by every crate's tests: per-test PostgreSQL databases created from a
//! migrated template, and a real SMTP server for mail tests.

pub mod database;
pub mod smtp;
