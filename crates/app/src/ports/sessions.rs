//! Persistence of sessions and their refresh-token families.

use super::RefreshTokenHash;
use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use storefront_domain::{RefreshDecision, Session, SessionId, UserId};

/// A refresh token to store (only its hash is ever stored).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub hash: RefreshTokenHash,
    pub expires_at: DateTime<Utc>,
}

/// A new session with the first token of its family.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub refresh: NewRefreshToken,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was spent and `replacement` now continues the family.
    Rotated { user_id: UserId, session_id: SessionId },
    /// The token is unknown.
    Unknown,
    /// Refused, for the reason the domain decided (`Reject`, `RejectWithinGrace`, or
    /// `RevokeFamily`, in which case the family has been revoked).
    Refused(RefreshDecision),
}

#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session and its first refresh token.
    async fn start(&self, session: NewSession) -> Result<(), StoreError>;

    /// Atomically: looks up the presented token (locking it), applies
    /// `RefreshTokenState::decide(now, grace)`, and on `Rotate` spends it, stores
    /// `replacement` in the same family and touches the session's `last_used_at`; on
    /// `RevokeFamily` revokes the session. Of concurrent calls with one token, exactly one
    /// MUST return `Rotated`.
    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<RotateOutcome, StoreError>;

    /// Revokes the session the presented token belongs to (spent or not); unknown tokens
    /// are ignored.
    async fn end_by_refresh_token(&self, presented: &RefreshTokenHash, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Revokes one session of the user. Returns `false` when the user has no such active
    /// session (including another user's session).
    async fn end(&self, user_id: UserId, session_id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Revokes every session of the user.
    async fn end_all(&self, user_id: UserId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The user's active sessions (not revoked, not expired), newest first.
    async fn list_active(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError>;

    /// Ends the user's active sessions beyond the newest `keep` (newest by `created_at`,
    /// then id), as a logout would; returns how many were ended.
    async fn end_oldest_beyond(&self, user_id: UserId, keep: usize, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Deletes the sessions that expired or were ended before `before` (their refresh
    /// tokens with them) and the refresh tokens that expired before `before`; returns how
    /// many sessions and tokens were deleted. Active sessions and their live tokens stay.
    async fn purge_ended(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
