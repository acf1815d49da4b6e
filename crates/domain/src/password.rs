//! Passwords: the policy a new password must meet, and redacted wrappers so that no
//! password or hash ever reaches a log line through `Debug`.

use crate::{Email, ValidationError};
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// zxcvbn's list of the 30,000 most common passwords (lower-case, one per line).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../data/common_passwords.txt").lines().collect());

/// A password as typed by a user, with no policy applied (used to check a login).
#[derive(Clone)]
pub struct PlainPassword(String);

impl PlainPassword {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainPassword(<redacted>)")
    }
}

/// A password that meets the policy: 8..=128 Unicode scalar values, not in the common
/// list, not the account's email. No composition rules (NIST SP 800-63B).
#[derive(Clone)]
pub struct NewPassword(PlainPassword);

impl NewPassword {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str, email: &Email) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(ValidationError::TooShort { min: Self::MIN_CHARS });
        }
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::TooLong { max: Self::MAX_CHARS });
        }
        let lowered = raw.to_lowercase();
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err(ValidationError::CommonPassword);
        }
        if lowered == email.as_str() || raw.trim().to_lowercase() == email.as_str() {
            return Err(ValidationError::PasswordEqualsEmail);
        }
        Ok(Self(PlainPassword::new(raw)))
    }

    pub fn as_plain(&self) -> &PlainPassword {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// A stored password hash (bcrypt over the HMAC pre-hash); opaque to everything but the
/// password hasher.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn email() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    #[test]
    fn the_bundled_list_holds_at_least_ten_thousand_passwords() {
        assert!(COMMON_PASSWORDS.len() >= 10_000);
        assert!(COMMON_PASSWORDS.contains("password"));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert_eq!(NewPassword::parse("Password", &email()).err(), Some(ValidationError::CommonPassword));
        assert_eq!(NewPassword::parse("12345678", &email()).err(), Some(ValidationError::CommonPassword));
    }

    #[test]
    fn length_is_counted_in_unicode_scalar_values() {
        assert_eq!(NewPassword::parse("åäöüñçé", &email()).err(), Some(ValidationError::TooShort { min: 8 }));
        assert!(NewPassword::parse("åäöüñçéø", &email()).is_ok());
        let cjk_and_emoji: String = "密码安全🔐".chars().cycle().take(64).collect();
        assert!(NewPassword::parse(&cjk_and_emoji, &email()).is_ok());
        assert!(NewPassword::parse(&"漢".repeat(128), &email()).is_ok());
        assert_eq!(NewPassword::parse(&"漢".repeat(129), &email()).err(), Some(ValidationError::TooLong { max: 128 }));
    }

    #[test]
    fn spaces_are_allowed() {
        assert!(NewPassword::parse("correct horse battery staple", &email()).is_ok());
    }

    #[test]
    fn the_email_itself_is_refused_case_insensitively() {
        assert_eq!(NewPassword::parse("ADA@example.com", &email()).err(), Some(ValidationError::PasswordEqualsEmail));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?} {:?}", PlainPassword::new("hunter22!"), PasswordHash::new("$2b$..."));
        assert!(!shown.contains("hunter22") && !shown.contains("$2b$"));
    }

    proptest! {
        #[test]
        fn any_password_within_bounds_and_not_common_is_accepted(raw in "[a-zA-Z0-9 ]{8,40}[#~^]") {
            prop_assert!(NewPassword::parse(&raw, &email()).is_ok());
        }
    }
}
