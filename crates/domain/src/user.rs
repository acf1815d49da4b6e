//! The user account and its value objects.

use crate::{Email, PasswordHash, RoleName, UserId, ValidationError};
use chrono::{DateTime, Utc};

/// A display name: trimmed, 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::TooLong { max: Self::MAX_LEN });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::Other("must not contain control characters".into()));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user account as the rest of the system sees it: never with its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub role: RoleName,
    pub is_active: bool,
    /// Whether the user proved to own `email` (a verification link, a password reset, or a
    /// confirmed email change).
    pub email_verified: bool,
    /// Whether logins need a second factor (a TOTP code or a recovery code).
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user together with the hash needed to check its password; only for authentication.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: PasswordHash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn invalid_emails_are_refused() {
        for raw in
            ["", "   ", "alice", "alice@", "@example.com", "alice@localhost", "a b@example.com", "alice@example."]
        {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be refused");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert_eq!(UserName::parse(" "), Err(ValidationError::Empty));
        assert!(UserName::parse(&"x".repeat(101)).is_err());
        assert!(UserName::parse(&"é".repeat(100)).is_ok());
    }

    proptest! {
        #[test]
        fn email_parsing_is_idempotent(local in "[a-zA-Z0-9._%+-]{1,20}", domain in "[a-zA-Z0-9-]{1,20}\\.[a-z]{2,6}") {
            let raw = format!("{local}@{domain}");
            if let Ok(email) = Email::parse(&raw) {
                let again = Email::parse(email.as_str()).unwrap();
                prop_assert_eq!(again, email);
            }
        }

        #[test]
        fn email_parse_never_panics(raw in ".{0,300}") {
            let _ = Email::parse(&raw);
        }
    }
}
