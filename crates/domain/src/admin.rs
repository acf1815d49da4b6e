//! Roles as administrators manage them, the audit trail of their changes, and the rule
//! that the last active admin can be neither demoted, deactivated nor deleted.

use crate::{Permission, RoleName, User, UserName};
use serde_json::{Value, json};

/// A role with its description and current grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: RoleName,
    pub description: String,
    pub builtin: bool,
    pub permissions: Vec<Permission>,
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    RoleCreated,
    RoleDeleted,
    RolePermissionGranted,
    RolePermissionRevoked,
    UserRoleChanged,
    UserActivated,
    UserDeactivated,
    UserDeleted,
}

impl AuditAction {
    pub const ALL: [AuditAction; 8] = [
        AuditAction::RoleCreated,
        AuditAction::RoleDeleted,
        AuditAction::RolePermissionGranted,
        AuditAction::RolePermissionRevoked,
        AuditAction::UserRoleChanged,
        AuditAction::UserActivated,
        AuditAction::UserDeactivated,
        AuditAction::UserDeleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::RoleCreated => "role.created",
            AuditAction::RoleDeleted => "role.deleted",
            AuditAction::RolePermissionGranted => "role.permission_granted",
            AuditAction::RolePermissionRevoked => "role.permission_revoked",
            AuditAction::UserRoleChanged => "user.role_changed",
            AuditAction::UserActivated => "user.activated",
            AuditAction::UserDeactivated => "user.deactivated",
            AuditAction::UserDeleted => "user.deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// An audit entry before the store gives it an id, an actor and a time.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    pub action: AuditAction,
    /// `role:<name>` or `user:<id>`.
    pub target: String,
    pub details: Value,
}

impl AuditDraft {
    pub fn role(action: AuditAction, role: &RoleName, details: Value) -> Self {
        Self { action, target: format!("role:{role}"), details }
    }

    pub fn user(action: AuditAction, user: &User, details: Value) -> Self {
        Self { action, target: format!("user:{}", user.id), details }
    }

    pub fn role_created(role: &RoleName, description: &str) -> Self {
        Self::role(AuditAction::RoleCreated, role, json!({ "description": description }))
    }

    pub fn role_deleted(role: &RoleName) -> Self {
        Self::role(AuditAction::RoleDeleted, role, json!({}))
    }

    pub fn grant_changed(role: &RoleName, permission: Permission, granted: bool) -> Self {
        let action = if granted { AuditAction::RolePermissionGranted } else { AuditAction::RolePermissionRevoked };
        Self::role(action, role, json!({ "permission": permission.as_str() }))
    }
}

/// An administrator's change to a user; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct AdminUserChange {
    pub name: Option<UserName>,
    pub role: Option<RoleName>,
    pub is_active: Option<bool>,
}

/// The change would leave no active admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this is the last active admin: it can be neither demoted, deactivated nor deleted")]
pub struct LastAdminViolation;

/// The user after an administrator's change, and what to audit.
#[derive(Debug, Clone)]
pub struct AdminUserChangePlan {
    pub after: User,
    pub audit: Vec<AuditDraft>,
    /// The account was deactivated: its sessions must end with the change.
    pub deactivated: bool,
}

fn is_active_admin(user: &User) -> bool {
    user.is_active && user.role.is_admin()
}

/// Applies `change` to `before`. `other_active_admins` counts the active admins other than
/// this user, read under a lock that serialises concurrent admin changes.
pub fn plan_admin_change(
    before: &User,
    change: &AdminUserChange,
    other_active_admins: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AdminUserChangePlan, LastAdminViolation> {
    let mut after = before.clone();
    if let Some(name) = &change.name {
        after.name = name.clone();
    }
    if let Some(role) = &change.role {
        after.role = role.clone();
    }
    if let Some(active) = change.is_active {
        after.is_active = active;
    }
    if is_active_admin(before) && !is_active_admin(&after) && other_active_admins == 0 {
        return Err(LastAdminViolation);
    }
    after.updated_at = now;
    let mut audit = Vec::new();
    if after.role != before.role {
        audit.push(AuditDraft::user(
            AuditAction::UserRoleChanged,
            before,
            json!({ "from": before.role.as_str(), "to": after.role.as_str() }),
        ));
    }
    let deactivated = before.is_active && !after.is_active;
    if deactivated {
        audit.push(AuditDraft::user(AuditAction::UserDeactivated, before, json!({})));
    } else if !before.is_active && after.is_active {
        audit.push(AuditDraft::user(AuditAction::UserActivated, before, json!({})));
    }
    Ok(AdminUserChangePlan { after, audit, deactivated })
}

/// Checks that deleting `user` leaves an active admin, and gives its audit entry.
pub fn plan_user_deletion(user: &User, other_active_admins: usize) -> Result<AuditDraft, LastAdminViolation> {
    if is_active_admin(user) && other_active_admins == 0 {
        return Err(LastAdminViolation);
    }
    Ok(AuditDraft::user(AuditAction::UserDeleted, user, json!({ "email": user.email.as_str() })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, UserId};
    use chrono::Utc;

    fn user(role: &str, active: bool) -> User {
        User {
            id: UserId(uuid::Uuid::now_v7()),
            email: Email::parse("a@example.com").unwrap(),
            name: UserName::parse("A").unwrap(),
            role: RoleName::parse(role).unwrap(),
            is_active: active,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn change(role: Option<&str>, active: Option<bool>) -> AdminUserChange {
        AdminUserChange { name: None, role: role.map(|r| RoleName::parse(r).unwrap()), is_active: active }
    }

    #[test]
    fn the_last_active_admin_can_be_neither_demoted_nor_deactivated() {
        let admin = user("admin", true);
        assert!(plan_admin_change(&admin, &change(Some("user"), None), 0, Utc::now()).is_err());
        assert!(plan_admin_change(&admin, &change(None, Some(false)), 0, Utc::now()).is_err());
        assert!(plan_admin_change(&admin, &change(Some("user"), None), 1, Utc::now()).is_ok());
        assert!(plan_user_deletion(&admin, 0).is_err());
        assert!(plan_user_deletion(&admin, 1).is_ok());
    }

    #[test]
    fn renaming_the_last_admin_is_fine() {
        let admin = user("admin", true);
        let rename = AdminUserChange { name: Some(UserName::parse("B").unwrap()), ..Default::default() };
        let plan = plan_admin_change(&admin, &rename, 0, Utc::now()).unwrap();
        assert_eq!(plan.after.name.as_str(), "B");
        assert!(plan.audit.is_empty());
    }

    #[test]
    fn role_and_activity_changes_are_audited() {
        let plan =
            plan_admin_change(&user("user", true), &change(Some("moderator"), Some(false)), 0, Utc::now()).unwrap();
        let actions: Vec<_> = plan.audit.iter().map(|a| a.action).collect();
        assert_eq!(actions, vec![AuditAction::UserRoleChanged, AuditAction::UserDeactivated]);
        assert_eq!(plan.audit[0].details, json!({"from": "user", "to": "moderator"}));
        assert!(plan.deactivated);
        let plan = plan_admin_change(&user("user", false), &change(Some("user"), Some(true)), 0, Utc::now()).unwrap();
        assert_eq!(plan.audit.iter().map(|a| a.action).collect::<Vec<_>>(), vec![AuditAction::UserActivated]);
    }

    #[test]
    fn audit_actions_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("user.flew"), None);
    }
}
