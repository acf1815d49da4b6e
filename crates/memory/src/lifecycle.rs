//! `LinkTokenRepository` and `SecondFactorRepository` over the in-memory state: each method
//! holds the one lock throughout, so spending a token or a time step is atomic.

use crate::store::{MemoryStore, State, StoredLink};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefront_app::StoreError;
use storefront_app::ports::{
    AuditContext, EmailChangeOutcome, LinkPurpose, LinkToken, LinkTokenRepository, NewLinkToken, RefreshTokenHash,
    SecondFactorRepository, TotpState,
};
use storefront_domain::mfa::step_is_fresh;
use storefront_domain::{AuditAction, AuditDraft, DomainEvent, PasswordHash, SessionId, User, UserId};

impl State {
    /// Spends the live token of `purpose`, if any.
    fn spend_link(&mut self, hash: &RefreshTokenHash, purpose: LinkPurpose, now: DateTime<Utc>) -> Option<LinkToken> {
        let stored = self.links.get_mut(hash).filter(|s| s.is_live(purpose, now))?;
        stored.used_at = Some(now);
        Some(stored.link.clone())
    }

    fn end_sessions_of(&mut self, user_id: UserId, keep: Option<SessionId>, now: DateTime<Utc>) {
        for session in self.sessions.values_mut().filter(|s| s.session.user_id == user_id && Some(s.session.id) != keep)
        {
            session.revoke(now);
        }
    }

    fn user_audit(&mut self, action: AuditAction, user: &User, now: DateTime<Utc>) {
        self.record(AuditDraft::account_change(action, user), AuditContext { actor: user.id, now });
    }
}

#[async_trait]
impl LinkTokenRepository for MemoryStore {
    async fn create_link(&self, new: NewLinkToken) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if !state.users.contains_key(&new.user_id) {
            return Err(StoreError::NotFound);
        }
        if state.links.contains_key(&new.hash) {
            return Err(StoreError::Conflict("link token hash already stored".into()));
        }
        let link =
            LinkToken { user_id: new.user_id, purpose: new.purpose, email: new.email, expires_at: new.expires_at };
        state.links.insert(new.hash, StoredLink { link, used_at: None });
        Ok(())
    }

    async fn find_link(
        &self,
        hash: &RefreshTokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkToken>, StoreError> {
        let state = self.state.lock().await;
        Ok(state.links.get(hash).filter(|s| s.is_live(purpose, now)).map(|s| s.link.clone()))
    }

    async fn spend_link(
        &self,
        hash: &RefreshTokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkToken>, StoreError> {
        Ok(self.state.lock().await.spend_link(hash, purpose, now))
    }

    async fn verify_email(&self, hash: &RefreshTokenHash, now: DateTime<Utc>) -> Result<Option<User>, StoreError> {
        let mut state = self.state.lock().await;
        let Some(link) = state.spend_link(hash, LinkPurpose::VerifyEmail, now) else { return Ok(None) };
        let Some(stored) = state.users.get_mut(&link.user_id).filter(|s| s.user.email == link.email) else {
            return Ok(None);
        };
        if !stored.user.email_verified {
            stored.user.email_verified = true;
            stored.user.updated_at = now;
        }
        Ok(Some(stored.user.clone()))
    }

    async fn reset_password(
        &self,
        hash: &RefreshTokenHash,
        user_id: UserId,
        password: PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state.lock().await;
        let live = state.links.get(hash).is_some_and(|s| s.is_live(LinkPurpose::ResetPassword, now));
        if !live || state.links.get(hash).is_none_or(|s| s.link.user_id != user_id) {
            return Ok(false);
        }
        let Some(stored) = state.users.get_mut(&user_id) else { return Ok(false) };
        stored.password_hash = password;
        stored.user.email_verified = true;
        stored.user.updated_at = now;
        let user = stored.user.clone();
        state.spend_link(hash, LinkPurpose::ResetPassword, now);
        // The other reset links of the user die with this one.
        state.links.retain(|_, s| s.link.user_id != user_id || s.link.purpose != LinkPurpose::ResetPassword);
        state.end_sessions_of(user_id, None, now);
        state.user_audit(AuditAction::UserPasswordReset, &user, now);
        state.append_events(vec![DomainEvent::password_reset(user_id, now)]);
        Ok(true)
    }

    async fn confirm_email_change(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<EmailChangeOutcome, StoreError> {
        let mut state = self.state.lock().await;
        let Some(link) =
            state.links.get(hash).filter(|s| s.is_live(LinkPurpose::ChangeEmail, now)).map(|s| s.link.clone())
        else {
            return Ok(EmailChangeOutcome::InvalidLink);
        };
        if !state.users.contains_key(&link.user_id) {
            return Ok(EmailChangeOutcome::InvalidLink);
        }
        let taken = state
            .users
            .values()
            .any(|s| s.user.id != link.user_id && s.user.email.as_str().eq_ignore_ascii_case(link.email.as_str()));
        if taken {
            return Err(StoreError::EmailTaken);
        }
        state.spend_link(hash, LinkPurpose::ChangeEmail, now);
        let stored = state.users.get_mut(&link.user_id).ok_or(StoreError::NotFound)?;
        let old = std::mem::replace(&mut stored.user.email, link.email.clone());
        stored.user.email_verified = true;
        stored.user.updated_at = now;
        let user = stored.user.clone();
        state.record(AuditDraft::email_changed(&user, &old), AuditContext { actor: user.id, now });
        Ok(EmailChangeOutcome::Changed(user))
    }

    async fn raise(&self, events: Vec<DomainEvent>) -> Result<(), StoreError> {
        self.state.lock().await.append_events(events);
        Ok(())
    }

    async fn purge_links(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state.lock().await;
        let count = state.links.len();
        state.links.retain(|_, s| s.link.expires_at >= before && s.used_at.is_none_or(|at| at >= before));
        Ok((count - state.links.len()) as u64)
    }
}

#[async_trait]
impl SecondFactorRepository for MemoryStore {
    async fn totp_state(&self, user_id: UserId) -> Result<Option<TotpState>, StoreError> {
        let state = self.state.lock().await;
        Ok(state.users.get(&user_id).map(|s| TotpState {
            secret: s.totp_secret.clone(),
            enabled: s.user.mfa_enabled,
            last_step: s.totp_last_step,
        }))
    }

    async fn begin_totp(&self, user_id: UserId, secret: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.users.get_mut(&user_id).ok_or(StoreError::NotFound)?;
        if stored.user.mfa_enabled {
            return Ok(false);
        }
        stored.totp_secret = Some(secret.to_owned());
        stored.user.updated_at = now;
        Ok(true)
    }

    async fn enable_totp(
        &self,
        user_id: UserId,
        secret: &str,
        step: i64,
        recovery_codes: Vec<RefreshTokenHash>,
        ctx: AuditContext,
    ) -> Result<bool, StoreError> {
        let mut state = self.state.lock().await;
        let Some(stored) = state.users.get_mut(&user_id) else { return Ok(false) };
        let pending = !stored.user.mfa_enabled && stored.totp_secret.as_deref() == Some(secret);
        if !pending || !step_is_fresh(step, stored.totp_last_step) {
            return Ok(false);
        }
        stored.user.mfa_enabled = true;
        stored.user.updated_at = ctx.now;
        stored.totp_last_step = Some(step);
        stored.recovery_codes = recovery_codes.into_iter().map(|hash| (hash, None)).collect();
        let user = stored.user.clone();
        state.record(AuditDraft::account_change(AuditAction::UserMfaEnabled, &user), ctx);
        Ok(true)
    }

    async fn accept_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        let mut state = self.state.lock().await;
        let Some(stored) = state.users.get_mut(&user_id) else { return Ok(false) };
        if !stored.user.mfa_enabled || !step_is_fresh(step, stored.totp_last_step) {
            return Ok(false);
        }
        stored.totp_last_step = Some(step);
        Ok(true)
    }

    async fn use_recovery_code(
        &self,
        user_id: UserId,
        code: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state.lock().await;
        let Some(stored) = state.users.get_mut(&user_id) else { return Ok(false) };
        if !stored.user.mfa_enabled {
            return Ok(false);
        }
        match stored.recovery_codes.iter_mut().find(|(hash, used)| hash == code && used.is_none()) {
            Some((_, used)) => {
                *used = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn disable_mfa(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        action: AuditAction,
        ctx: AuditContext,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.users.get_mut(&user_id).ok_or(StoreError::NotFound)?;
        stored.user.mfa_enabled = false;
        stored.user.updated_at = ctx.now;
        stored.totp_secret = None;
        stored.totp_last_step = None;
        stored.recovery_codes.clear();
        let user = stored.user.clone();
        state.end_sessions_of(user_id, keep, ctx.now);
        state.record(AuditDraft::account_change(action, &user), ctx);
        Ok(())
    }
}
