//! Persistence of the account life cycle: single-use link tokens (email verification,
//! password reset, email change, the second step of an MFA login) and the second factor
//! (a TOTP secret, the last time step used, recovery codes).

use super::{AuditContext, RefreshTokenHash};
use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefront_domain::{AuditAction, DomainEvent, Email, PasswordHash, SessionId, User, UserId};

/// What a link token may be spent on; a token of one purpose is unknown to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
    /// The `mfa_token` between a correct password and the second factor.
    MfaLogin,
}

impl LinkPurpose {
    pub const ALL: [LinkPurpose; 4] =
        [LinkPurpose::VerifyEmail, LinkPurpose::ResetPassword, LinkPurpose::ChangeEmail, LinkPurpose::MfaLogin];

    pub const fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
            LinkPurpose::ChangeEmail => "change_email",
            LinkPurpose::MfaLogin => "mfa_login",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

/// A link token to store: only its hash.
#[derive(Debug, Clone)]
pub struct NewLinkToken {
    pub hash: RefreshTokenHash,
    pub purpose: LinkPurpose,
    pub user_id: UserId,
    /// The address the link was mailed to (verification: the address it proves; email
    /// change: the new address).
    pub email: Email,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A live link token as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub user_id: UserId,
    pub purpose: LinkPurpose,
    pub email: Email,
    pub expires_at: DateTime<Utc>,
}

/// What confirming an email change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChangeOutcome {
    /// The user now has the new, verified address.
    Changed(User),
    /// The token is unknown, spent or expired (or its user is gone).
    InvalidLink,
}

#[async_trait]
pub trait LinkTokenRepository: Send + Sync {
    /// Stores a new link token.
    ///
    /// # Errors
    /// MUST return `NotFound` when the user does not exist.
    async fn create_link(&self, link: NewLinkToken) -> Result<(), StoreError>;

    /// The token with this hash and purpose if it is unspent and unexpired at `now`.
    async fn find_link(
        &self,
        hash: &RefreshTokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkToken>, StoreError>;

    /// Atomically spends the token: of concurrent calls at most one gets it back; unknown,
    /// spent, expired and other-purpose tokens answer `None`.
    async fn spend_link(
        &self,
        hash: &RefreshTokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkToken>, StoreError>;

    /// In one transaction: spends a `VerifyEmail` token and, if its user still has the
    /// address it was sent to, marks that address verified and answers the user. `None` for
    /// an unknown, spent or expired token, and for one whose address the user no longer has
    /// (spent all the same: it can never prove anything again).
    async fn verify_email(&self, hash: &RefreshTokenHash, now: DateTime<Utc>) -> Result<Option<User>, StoreError>;

    /// In one transaction: spends a `ResetPassword` token of `user_id`, stores `password`,
    /// marks the email verified, ends every session of the user, deletes the user's other
    /// reset tokens, records `user.password_reset` (the user as actor) and raises the
    /// `user.password_reset` event. `false` (and nothing written) for an unknown, spent or
    /// expired token, or one of another user.
    async fn reset_password(
        &self,
        hash: &RefreshTokenHash,
        user_id: UserId,
        password: PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// In one transaction: spends a `ChangeEmail` token, gives its user the token's address,
    /// verified, and records `user.email_changed` (the user as actor).
    ///
    /// # Errors
    /// MUST return `EmailTaken` (spending nothing) when another user has the address now.
    async fn confirm_email_change(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<EmailChangeOutcome, StoreError>;

    /// Writes events that go with no change of state (a verification, reset or email
    /// change asked for) to the outbox, for the mail handlers.
    async fn raise(&self, events: Vec<DomainEvent>) -> Result<(), StoreError>;

    /// Deletes the tokens that expired or were spent before `before`; answers how many.
    async fn purge_links(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// A user's second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TotpState {
    /// The base32 secret: pending while `enabled` is false.
    pub secret: Option<String>,
    pub enabled: bool,
    /// The last time step whose code was accepted.
    pub last_step: Option<i64>,
}

#[async_trait]
pub trait SecondFactorRepository: Send + Sync {
    /// The user's second factor; `None` for an unknown user.
    async fn totp_state(&self, user_id: UserId) -> Result<Option<TotpState>, StoreError>;

    /// Stores a pending secret (replacing a pending one). `false` when the second factor is
    /// already enabled (nothing written).
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown user.
    async fn begin_totp(&self, user_id: UserId, secret: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// In one transaction: if `secret` is still the user's pending secret, not enabled, and
    /// `step` is later than the last step used, enables it, records `step` as used, stores
    /// the recovery codes' hashes (replacing any) and records `user.mfa_enabled`. `false`
    /// (nothing written) otherwise.
    async fn enable_totp(
        &self,
        user_id: UserId,
        secret: &str,
        step: i64,
        recovery_codes: Vec<RefreshTokenHash>,
        ctx: AuditContext,
    ) -> Result<bool, StoreError>;

    /// Atomically records `step` as used if it is later than the last step used: `true`
    /// when it was (of concurrent calls with one step, exactly one).
    async fn accept_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError>;

    /// Atomically spends one unused recovery code of the user; `false` when it has none
    /// with this hash.
    async fn use_recovery_code(
        &self,
        user_id: UserId,
        code: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// In one transaction: turns the second factor off (secret, last step and recovery codes
    /// gone), ends every session of the user but `keep`, and records `action`
    /// (`user.mfa_disabled` or `user.mfa_reset`) on the user.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown user.
    async fn disable_mfa(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        action: AuditAction,
        ctx: AuditContext,
    ) -> Result<(), StoreError>;
}
