//! The assistant's contract tests: conversations owned by one user, their messages and the
//! daily usage they add up to.

pub mod conversations;
