//! The assistant's contract tests: conversations owned by one user, their messages and the
//! daily usage they add up to (per provider and model, and the usage report); review
//! summaries and the claim that debounces their regeneration.

pub mod conversations;
pub mod summaries;
pub mod usage;
