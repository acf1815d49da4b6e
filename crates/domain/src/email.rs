//! The email address value object, apart from `user` so that `password` (which refuses a
//! password equal to the email) and `user` do not depend on each other.

use crate::ValidationError;
use std::fmt;

/// A normalised email address: trimmed, lower-cased and syntactically valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(ValidationError::Empty);
        }
        if normalised.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::TooLong { max: Self::MAX_LEN });
        }
        // email_address follows RFC 5322; we additionally require a dot-separated domain,
        // which is what deliverable addresses on the public internet have.
        let valid = email_address::EmailAddress::parse_with_options(
            &normalised,
            email_address::Options::default().without_display_text().without_domain_literal(),
        )
        .map(|parsed| parsed.domain().contains('.') && !parsed.domain().ends_with('.'))
        .unwrap_or(false);
        if valid { Ok(Self(normalised)) } else { Err(ValidationError::InvalidEmail) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
