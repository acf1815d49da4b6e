//! Test support shared by every crate's tests: per-test PostgreSQL databases created from a
//! migrated template, a TCP proxy that cuts a server off from its database, and a real SMTP
//! server for mail tests.

pub mod database;
pub mod proxy;
pub mod smtp;
