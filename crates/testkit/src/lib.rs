//! Test support shared by every crate's tests: per-test PostgreSQL databases created from a
//! migrated template, a TCP proxy that cuts a server off from its database, a real SMTP
//! server for mail tests, and a private Redis server to stop and restart.

pub mod database;
pub mod proxy;
pub mod redis;
pub mod smtp;
