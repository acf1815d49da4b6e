//! The account life cycle's contract tests: link tokens (stored by hash, single use,
//! expiring, purged; the changes they make all or nothing) and the second factor (pending
//! and enabled secrets, each time step once, recovery codes once, turning it off).

pub mod factors;
pub mod links;
pub mod support;
