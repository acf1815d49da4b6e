//! Sessions (one login on one device = one refresh-token family) and the rule that decides
//! what presenting a refresh token does.

use crate::{SessionId, UserId};
use chrono::{DateTime, Duration, Utc};

/// An active login, as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// What the store knows about a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTokenState {
    pub expires_at: DateTime<Utc>,
    /// When this token was rotated (spent), if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// The family was revoked (logout, theft, deactivation…).
    pub session_revoked: bool,
    /// The owning account may still log in.
    pub user_active: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Spend it and issue the next token of the family.
    Rotate,
    /// Refuse: expired, revoked, or the account is not active.
    Reject,
    /// A spent token within the grace period: an honest client racing itself. Refuse
    /// without revoking anything.
    RejectWithinGrace,
    /// A spent token after the grace period: treat as theft and revoke the whole family.
    RevokeFamily,
}

impl RefreshTokenState {
    /// RFC 9700 §4.14.2 reuse detection, with a grace period for concurrent honest use.
    pub fn decide(&self, now: DateTime<Utc>, grace: Duration) -> RefreshDecision {
        if self.session_revoked || !self.user_active {
            return RefreshDecision::Reject;
        }
        match self.used_at {
            Some(used_at) if now - used_at <= grace => RefreshDecision::RejectWithinGrace,
            Some(_) => RefreshDecision::RevokeFamily,
            None if self.expires_at <= now => RefreshDecision::Reject,
            None => RefreshDecision::Rotate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(used_secs_ago: Option<i64>) -> (RefreshTokenState, DateTime<Utc>) {
        let now = Utc::now();
        let state = RefreshTokenState {
            expires_at: now + Duration::days(7),
            used_at: used_secs_ago.map(|s| now - Duration::seconds(s)),
            session_revoked: false,
            user_active: true,
        };
        (state, now)
    }

    #[test]
    fn a_fresh_token_rotates() {
        let (s, now) = state(None);
        assert_eq!(s.decide(now, Duration::seconds(5)), RefreshDecision::Rotate);
    }

    #[test]
    fn a_spent_token_within_grace_is_refused_without_revocation() {
        let (s, now) = state(Some(2));
        assert_eq!(s.decide(now, Duration::seconds(5)), RefreshDecision::RejectWithinGrace);
    }

    #[test]
    fn a_spent_token_after_grace_revokes_the_family() {
        let (s, now) = state(Some(6));
        assert_eq!(s.decide(now, Duration::seconds(5)), RefreshDecision::RevokeFamily);
    }

    #[test]
    fn expired_revoked_or_inactive_is_refused() {
        let (mut s, now) = state(None);
        s.expires_at = now;
        assert_eq!(s.decide(now, Duration::seconds(5)), RefreshDecision::Reject);
        let (mut s, now) = state(None);
        s.session_revoked = true;
        assert_eq!(s.decide(now, Duration::seconds(5)), RefreshDecision::Reject);
        let (mut s, now) = state(Some(60));
        s.user_active = false;
        assert_eq!(s.decide(now, Duration::seconds(5)), RefreshDecision::Reject);
    }
}
