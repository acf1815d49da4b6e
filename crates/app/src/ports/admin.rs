//! Persistence of roles and grants, administrative changes to users, and the audit log.
//! Every change here writes its audit entries in the same transaction.

use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use storefront_domain::{AdminUserChange, AuditAction, AuditDraft, Permission, Role, RoleName, User, UserId};
use uuid::Uuid;

/// Who makes a change and when: stamped on its audit entries.
#[derive(Debug, Clone, Copy)]
pub struct AuditContext {
    pub actor: UserId,
    pub now: DateTime<Utc>,
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Kept after the actor's account is deleted (the log is history), so a self-deletion
    /// names its user as actor. `None` only for changes made outside any account.
    pub actor_id: Option<UserId>,
    pub action: AuditAction,
    pub target: String,
    pub details: Value,
}

/// A validated page request: `limit` in 1..=100, `offset` >= 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub offset: u64,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;
}

/// One page of a longer list, with the length of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Filters of the user listing.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of the email or the name; matched as data, never as a pattern.
    pub q: Option<String>,
    pub role: Option<RoleName>,
}

/// Filters of the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    pub actor_id: Option<UserId>,
}

#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// Every role with its current grants, ordered by name.
    async fn list(&self) -> Result<Vec<Role>, StoreError>;

    /// Creates a role with no grants and audits `role.created`.
    ///
    /// # Errors
    /// MUST return `Conflict` when a role of that name exists.
    async fn create(&self, name: &RoleName, description: &str, ctx: AuditContext) -> Result<Role, StoreError>;

    /// Deletes a role and audits `role.deleted`.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown role, and `Conflict` for a built-in role or
    /// one still held by a user (checked in the same transaction as the delete).
    async fn delete(&self, name: &RoleName, ctx: AuditContext) -> Result<(), StoreError>;

    /// Grants (`granted = true`) or revokes a permission; idempotent. Audits
    /// `role.permission_granted`/`role.permission_revoked` only when the grants changed.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown role.
    async fn set_grant(
        &self,
        role: &RoleName,
        permission: Permission,
        granted: bool,
        ctx: AuditContext,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait UserAdminRepository: Send + Sync {
    /// Users matching the filter, newest first (created_at, then id, descending).
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, StoreError>;

    /// In one transaction: locks the active admins, applies
    /// `storefront_domain::plan_admin_change`, stores the user, writes the plan's audit
    /// entries, and ends every session of a user being deactivated. Of two concurrent
    /// demotions of the last two admins, exactly one succeeds.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown user, `InvalidReference` for an unknown role,
    /// and `Conflict` when the change would leave no active admin.
    async fn apply_change(&self, id: UserId, change: &AdminUserChange, ctx: AuditContext) -> Result<User, StoreError>;

    /// In one transaction: locks the active admins, checks
    /// `storefront_domain::plan_user_deletion`, deletes the user (its sessions with it) and
    /// audits `user.deleted`.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown user and `Conflict` when it is the last
    /// active admin.
    async fn delete(&self, id: UserId, ctx: AuditContext) -> Result<(), StoreError>;
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Entries matching the filter, newest first (time, then id, descending).
    async fn list(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>, StoreError>;

    /// Writes one entry that goes with no change (a refused attempt: `access.denied`).
    async fn record(&self, draft: AuditDraft, ctx: AuditContext) -> Result<(), StoreError>;
}
