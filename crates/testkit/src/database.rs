//! Per-test PostgreSQL databases.
