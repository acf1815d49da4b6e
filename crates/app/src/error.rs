//! The application's error enum (what happened), and the errors ports report.

use storefront_domain::{FieldViolation, OrderStatus, Shortage};

/// What went wrong in a use case. The HTTP adapter maps each variant to one status and one
/// problem `code`, in one place.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the request is not valid")]
    Validation(Vec<FieldViolation>),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("{0}")]
    Conflict(String),
    #[error("you have already reviewed this product")]
    ReviewExists,
    /// Lines of an order that the stock cannot serve (every one of them).
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    #[error("an order cannot go from {} to {}", from.as_str(), to.as_str())]
    InvalidTransition { from: OrderStatus, to: OrderStatus },
    /// An idempotency key reused with another request body.
    #[error("the Idempotency-Key was used with another request body")]
    IdempotencyKeyReused,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("the token is invalid, expired or revoked")]
    InvalidToken,
    /// A link token (verification, reset, email change) that is unknown, spent or expired.
    #[error("the link is invalid, used or expired")]
    InvalidLink,
    /// The action needs a verified email address (`auth.require_verified_email`).
    #[error("the email address is not verified")]
    EmailNotVerified,
    /// The password was right; the login needs the second factor, presented with this
    /// `mfa_token`.
    #[error("a second factor is required")]
    MfaRequired { mfa_token: String },
    /// A wrong TOTP or recovery code where it proves the caller's identity (a login, turning
    /// the second factor off).
    #[error("the code is not valid")]
    InvalidCode,
    /// A wrong TOTP code confirming an enrolment: the request is refused, not the caller.
    #[error("the code does not match the secret")]
    InvalidEnrolmentCode,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    /// A chat message the injection screen refused.
    #[error("the message was rejected: {}", .0.as_str())]
    PromptRejected(storefront_domain::InjectionKind),
    /// The caller's daily token budget is spent until the next 00:00 UTC.
    #[error("the daily token budget is spent")]
    AiBudgetExceeded { retry_after_secs: u64 },
    /// The assistant's provider failed or timed out.
    #[error("the assistant is unavailable")]
    AssistantUnavailable { retry_after_secs: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A store error on the caller's own account. `NotFound` there means the account was
    /// deleted while the request ran: to the caller, its token no longer names anyone.
    pub(crate) fn on_own_account(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AppError::InvalidToken,
            other => other.into(),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldViolation::new(field, message)])
    }
}

/// What a persistence port reports. Adapters turn their own errors into these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique email constraint was hit.
    #[error("email taken")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row to insert exists already (e.g. a second review by one author).
    #[error("already exists")]
    AlreadyExists,
    /// A referenced row (a role, a category…) does not exist.
    #[error("unknown reference: {0}")]
    InvalidReference(String),
    /// The store cannot be reached (connection refused, pool timeout…): retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store gave up on a unit of work for a reason that says nothing about its
    /// content (a deadlock it broke, a serialisation failure): running it again is right.
    #[error("unit of work aborted: {0}")]
    Aborted(String),
    #[error("store failure: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::EmailTaken => AppError::EmailTaken,
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(why) => AppError::Conflict(why),
            StoreError::AlreadyExists => AppError::Conflict("already exists".into()),
            StoreError::InvalidReference(what) => {
                AppError::Validation(vec![FieldViolation::new(what, "does not exist")])
            }
            StoreError::Unavailable(why) | StoreError::Aborted(why) => AppError::Unavailable(why),
            StoreError::Internal(why) => AppError::Internal(why),
        }
    }
}

impl From<crate::ports::HashingError> for AppError {
    fn from(err: crate::ports::HashingError) -> Self {
        match err {
            // Answered at once as 503 + Retry-After: a full hashing queue clears in seconds.
            crate::ports::HashingError::Saturated => AppError::Unavailable(err.to_string()),
            crate::ports::HashingError::Failed(why) => AppError::Internal(why),
        }
    }
}

/// A failure of a non-persistence adapter (hashing pool, token signing): always internal.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct InfraError(pub String);

impl From<InfraError> for AppError {
    fn from(err: InfraError) -> Self {
        AppError::Internal(err.0)
    }
}
