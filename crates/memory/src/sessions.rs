//! `SessionRepository` over the in-memory state: sessions, refresh-token rotation with
//! reuse detection, and ending sessions.

use crate::store::{MemoryStore, StoredRefreshToken, StoredSession};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::cmp::Reverse;
use storefront_app::StoreError;
use storefront_app::ports::{NewRefreshToken, NewSession, RefreshTokenHash, RotateOutcome, SessionRepository};
use storefront_domain::{RefreshDecision, RefreshTokenState, Session, SessionId, UserId};

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn end_oldest_beyond(&self, user_id: UserId, keep: usize, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state.lock().await;
        let mut active: Vec<&mut StoredSession> =
            state.sessions.values_mut().filter(|s| s.session.user_id == user_id && s.is_active(now)).collect();
        active.sort_by_key(|s| Reverse((s.session.created_at, s.session.id)));
        let mut ended = 0;
        for stored in active.into_iter().skip(keep) {
            stored.revoke(now);
            ended += 1;
        }
        Ok(ended)
    }

    async fn purge_ended(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state.lock().await;
        let sessions_before = state.sessions.len();
        state.sessions.retain(|_, s| s.expires_at >= before && s.revoked_at.is_none_or(|at| at >= before));
        let tokens_before = state.refresh_tokens.len();
        let sessions = std::mem::take(&mut state.sessions);
        state.refresh_tokens.retain(|_, t| t.expires_at >= before && sessions.contains_key(&t.session_id));
        state.sessions = sessions;
        let deleted = (sessions_before - state.sessions.len()) + (tokens_before - state.refresh_tokens.len());
        Ok(deleted as u64)
    }

    async fn start(&self, new: NewSession) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        // What the database's foreign key and unique constraints would refuse.
        if !state.users.contains_key(&new.user_id) {
            return Err(StoreError::NotFound);
        }
        if state.sessions.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!("session {} already exists", new.id)));
        }
        if state.refresh_tokens.contains_key(&new.refresh.hash) {
            return Err(StoreError::Conflict("refresh token hash already stored".into()));
        }
        let session = Session {
            id: new.id,
            user_id: new.user_id,
            created_at: new.created_at,
            last_used_at: new.created_at,
            user_agent: new.user_agent,
            ip: new.ip,
        };
        state.sessions.insert(new.id, StoredSession { session, expires_at: new.refresh.expires_at, revoked_at: None });
        state.refresh_tokens.insert(
            new.refresh.hash,
            StoredRefreshToken { session_id: new.id, expires_at: new.refresh.expires_at, used_at: None },
        );
        Ok(())
    }

    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<RotateOutcome, StoreError> {
        // The whole method runs under the one lock: that is what makes exactly one of
        // concurrent rotations of the same token win.
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let Some(token) = state.refresh_tokens.get(presented) else {
            return Ok(RotateOutcome::Unknown);
        };
        let session_id = token.session_id;
        let Some(session) = state.sessions.get(&session_id) else {
            // Cannot happen (deleting a user removes its tokens), but an orphan token must
            // not rotate.
            return Ok(RotateOutcome::Unknown);
        };
        let user_id = session.session.user_id;
        let decision = RefreshTokenState {
            expires_at: token.expires_at,
            used_at: token.used_at,
            session_revoked: session.revoked_at.is_some(),
            user_active: state.users.get(&user_id).is_some_and(|stored| stored.user.is_active),
        }
        .decide(now, grace);

        match decision {
            RefreshDecision::Rotate => {
                // Check before mutating anything, so that a refusal leaves no trace.
                if state.refresh_tokens.contains_key(&replacement.hash) {
                    return Err(StoreError::Conflict("refresh token hash already stored".into()));
                }
                if let Some(token) = state.refresh_tokens.get_mut(presented) {
                    token.used_at = Some(now);
                }
                if let Some(session) = state.sessions.get_mut(&session_id) {
                    session.session.last_used_at = now;
                    session.expires_at = replacement.expires_at;
                }
                state.refresh_tokens.insert(
                    replacement.hash,
                    StoredRefreshToken { session_id, expires_at: replacement.expires_at, used_at: None },
                );
                Ok(RotateOutcome::Rotated { user_id, session_id })
            }
            RefreshDecision::RevokeFamily => {
                if let Some(session) = state.sessions.get_mut(&session_id) {
                    session.revoke(now);
                }
                Ok(RotateOutcome::Refused(decision))
            }
            RefreshDecision::Reject | RefreshDecision::RejectWithinGrace => Ok(RotateOutcome::Refused(decision)),
        }
    }

    async fn end_by_refresh_token(&self, presented: &RefreshTokenHash, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        if let Some(token) = state.refresh_tokens.get(presented)
            && let Some(session) = state.sessions.get_mut(&token.session_id)
        {
            session.revoke(now);
        }
        Ok(())
    }

    async fn end(&self, user_id: UserId, session_id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.state.lock().await;
        match state.sessions.get_mut(&session_id) {
            Some(session) if session.session.user_id == user_id && session.is_active(now) => {
                session.revoke(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn end_all(&self, user_id: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        for session in state.sessions.values_mut().filter(|s| s.session.user_id == user_id) {
            session.revoke(now);
        }
        Ok(())
    }

    async fn list_active(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError> {
        let state = self.state.lock().await;
        let mut active: Vec<Session> = state
            .sessions
            .values()
            .filter(|s| s.session.user_id == user_id && s.is_active(now))
            .map(|s| s.session.clone())
            .collect();
        // Newest first; the id breaks ties so that the order is total, as in SQL's
        // `ORDER BY created_at DESC, id DESC`.
        active.sort_by_key(|s| Reverse((s.created_at, s.id)));
        Ok(active)
    }
}
