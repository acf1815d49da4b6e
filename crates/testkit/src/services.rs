//! Ready-wired services for tests.
