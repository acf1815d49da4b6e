//! Persistence of user accounts.

use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefront_domain::{
    Email, PasswordHash, Permission, PermissionSet, RoleName, SessionId, User, UserCredentials, UserId, UserName,
};

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub password_hash: PasswordHash,
    pub role: RoleName,
    pub created_at: DateTime<Utc>,
}

/// Profile fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub name: Option<UserName>,
    pub email: Option<Email>,
}

/// The caller of an authenticated request, loaded fresh for every request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    /// The session (refresh-token family) the access token was issued for.
    pub session_id: SessionId,
    pub permissions: PermissionSet,
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts a user and, in the same transaction, its `user.registered` event
    /// (`DomainEvent::user_registered`) into the outbox.
    ///
    /// # Errors
    /// MUST return `EmailTaken` when another user has the same (normalised) email (and
    /// write no event).
    async fn create(&self, user: NewUser) -> Result<User, StoreError>;

    /// The active users whose role holds `permission` (the admins always do), by email.
    async fn active_holders_of(&self, permission: Permission) -> Result<Vec<User>, StoreError>;

    /// The user with this id, if any.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this email and its password hash, if any (active or not).
    async fn find_credentials_by_email(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError>;

    /// The user with this id and its password hash, if any.
    async fn find_credentials_by_id(&self, id: UserId) -> Result<Option<UserCredentials>, StoreError>;

    /// Applies profile changes and bumps `updated_at` to `now`.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown user and `EmailTaken` when the new email
    /// belongs to another user.
    async fn update_profile(&self, id: UserId, changes: ProfileChanges, now: DateTime<Utc>)
    -> Result<User, StoreError>;

    /// Stores a new password hash and, in the same transaction, ends every session of the
    /// user except `keep`.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown user.
    async fn change_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        keep: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Deletes the user and everything that belongs only to it (sessions, refresh tokens).
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown user.
    async fn delete(&self, id: UserId) -> Result<(), StoreError>;

    /// In one round trip: the user, if it exists and is active, whose session `session` is
    /// still active at `now`, with the effective permissions of its current role.
    /// `None` otherwise.
    async fn load_principal(
        &self,
        id: UserId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError>;
}
