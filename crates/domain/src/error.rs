//! Validation failures of domain values, named by the field they came from.

use std::fmt;

/// One invalid field: its path in the request (`email`, `items[0].quantity`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub message: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// What is wrong with a value, before it is attached to a field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("must be a valid email address")]
    InvalidEmail,
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("is too common; choose a less guessable password")]
    CommonPassword,
    #[error("must not be the same as the email address")]
    PasswordEqualsEmail,
    #[error("must be lowercase letters, digits, '_' or '-', starting with a letter (1..=50)")]
    InvalidRoleName,
    #[error("{0}")]
    Other(String),
}

impl ValidationError {
    /// Attaches the field path this error belongs to.
    pub fn at(self, field: impl Into<String>) -> FieldViolation {
        FieldViolation::new(field, self.to_string())
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
