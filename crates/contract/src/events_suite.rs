//! The events' contract tests: which state changes write which events to the outbox (in
//! the change's own transaction: none when it is refused), and how events leave the
//! outbox (leases, failures, dead letters, purges) and are recorded as handled.

pub mod delivery;
pub mod raising;
pub mod support;
