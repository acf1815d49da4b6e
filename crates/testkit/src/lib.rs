//! Test support shared by every crate's tests: per-test PostgreSQL databases created from a
//! migrated template.

pub mod database;
