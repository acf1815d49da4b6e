//! Test support shared by every crate's tests: per-test PostgreSQL databases created from a
//! migrated template, a TCP proxy that cuts a server off from its database, a real SMTP
//! server for mail tests, a private Redis server to stop and restart, and a fake
//! OpenAI-compatible upstream for the assistant (`llm::FakeUpstream`).

pub mod database;
pub mod llm;
pub mod proxy;
pub mod redis;
pub mod smtp;
