//! The contract tests themselves (filled in per port).
