//! `UserRepository` over the in-memory state: accounts, their credentials, and loading the
//! principal of an authenticated request.

use crate::store::{MemoryStore, State, StoredUser};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefront_app::StoreError;
use storefront_app::ports::{NewUser, Principal, ProfileChanges, UserRepository};
use storefront_domain::{
    DomainEvent, Email, PasswordHash, Permission, PermissionSet, SessionId, User, UserCredentials, UserId,
};

impl State {
    /// Whether a user other than `except` holds `email`. `Email` is already normalised
    /// (trimmed, lower-cased), yet compare case-insensitively anyway: uniqueness regardless
    /// of case is the promise, not an accident of the value type.
    fn email_taken(&self, email: &Email, except: Option<UserId>) -> bool {
        self.users.values().any(|stored| {
            Some(stored.user.id) != except && stored.user.email.as_str().eq_ignore_ascii_case(email.as_str())
        })
    }

    fn credentials(stored: &StoredUser) -> UserCredentials {
        UserCredentials { user: stored.user.clone(), password_hash: stored.password_hash.clone() }
    }
}

impl State {
    /// Removes a user with its sessions and refresh tokens, its products (with their
    /// likes, reviews and category links), its likes, its reviews and its idempotency
    /// keys; its orders stay, without a buyer.
    pub(crate) fn remove_user(&mut self, id: UserId) -> Result<(), StoreError> {
        if self.users.remove(&id).is_none() {
            return Err(StoreError::NotFound);
        }
        self.remove_catalogue_of(id);
        self.forget_buyer(id);
        self.assistant.remove_user(id);
        self.sessions.retain(|_, s| s.session.user_id != id);
        // Tokens whose session is gone belonged to this user (sessions never change owner).
        let State { sessions, refresh_tokens, .. } = self;
        refresh_tokens.retain(|_, token| sessions.contains_key(&token.session_id));
        self.links.retain(|_, stored| stored.link.user_id != id);
        Ok(())
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        let mut state = self.state.lock().await;
        if state.email_taken(&new.email, None) {
            return Err(StoreError::EmailTaken);
        }
        if state.users.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!("user {} already exists", new.id)));
        }
        let user = User {
            id: new.id,
            email: new.email,
            name: new.name,
            role: new.role,
            is_active: true,
            email_verified: false,
            mfa_enabled: false,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        state.users.insert(user.id, StoredUser::new(user.clone(), new.password_hash));
        state.append_events(vec![DomainEvent::user_registered(&user)]);
        Ok(user)
    }

    async fn active_holders_of(&self, permission: Permission) -> Result<Vec<User>, StoreError> {
        let state = self.state.lock().await;
        let mut holders: Vec<User> = state
            .users
            .values()
            .filter(|stored| stored.user.is_active)
            .filter(|stored| {
                let grants = state.roles.get(&stored.user.role).into_iter().flat_map(|r| r.grants.iter().copied());
                PermissionSet::for_role(&stored.user.role, grants).contains(permission)
            })
            .map(|stored| stored.user.clone())
            .collect();
        holders.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
        Ok(holders)
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let state = self.state.lock().await;
        Ok(state.users.get(&id).map(|stored| stored.user.clone()))
    }

    async fn find_credentials_by_email(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError> {
        let state = self.state.lock().await;
        Ok(state
            .users
            .values()
            .find(|stored| stored.user.email.as_str().eq_ignore_ascii_case(email.as_str()))
            .map(State::credentials))
    }

    async fn find_credentials_by_id(&self, id: UserId) -> Result<Option<UserCredentials>, StoreError> {
        let state = self.state.lock().await;
        Ok(state.users.get(&id).map(State::credentials))
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let mut state = self.state.lock().await;
        if !state.users.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        if let Some(email) = &changes.email
            && state.email_taken(email, Some(id))
        {
            return Err(StoreError::EmailTaken);
        }
        let stored = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        if let Some(name) = changes.name {
            stored.user.name = name;
        }
        if let Some(email) = changes.email {
            stored.user.email = email;
        }
        stored.user.updated_at = now;
        Ok(stored.user.clone())
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        keep: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        stored.password_hash = hash;
        stored.user.updated_at = now;
        for session in state.sessions.values_mut().filter(|s| s.session.user_id == id && s.session.id != keep) {
            session.revoke(now);
        }
        Ok(())
    }

    async fn delete(&self, id: UserId) -> Result<(), StoreError> {
        self.state.lock().await.remove_user(id)
    }

    async fn load_principal(
        &self,
        id: UserId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        let state = self.state.lock().await;
        let Some(stored) = state.users.get(&id).filter(|stored| stored.user.is_active) else {
            return Ok(None);
        };
        let session_active = state.sessions.get(&session).is_some_and(|s| s.session.user_id == id && s.is_active(now));
        if !session_active {
            return Ok(None);
        }
        let grants = state.roles.get(&stored.user.role).into_iter().flat_map(|r| r.grants.iter().copied());
        Ok(Some(Principal {
            user: stored.user.clone(),
            session_id: session,
            permissions: PermissionSet::for_role(&stored.user.role, grants),
        }))
    }
}
