//! Test support shared by every crate's tests: per-test PostgreSQL databases created from a
//! migrated template, and a TCP proxy that cuts a server off from its database.

pub mod database;
pub mod proxy;
