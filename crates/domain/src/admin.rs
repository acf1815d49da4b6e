//! Roles as administrators manage them, the audit trail of their changes, the rule that
//! the last active admin can be neither demoted, deactivated nor deleted, and the rule that
//! no one hands out or acts on permissions it does not hold itself.

use crate::{Permission, PermissionSet, RoleName, User, UserName};
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
    /// An administrative action refused by the no-privilege-escalation rule.
    AccessDenied,
    UserMfaEnabled,
    UserMfaDisabled,
    /// An administrator turned a user's second factor off.
    UserMfaReset,
    UserPasswordReset,
    UserEmailChanged,
    /// A moderator approved a review (`review:<id>`).
    ReviewApproved,
    /// A moderator rejected a review.
    ReviewRejected,
}

impl AuditAction {
    pub const ALL: [AuditAction; 16] = [
        AuditAction::RoleCreated,
        AuditAction::RoleDeleted,
        AuditAction::RolePermissionGranted,
        AuditAction::RolePermissionRevoked,
        AuditAction::UserRoleChanged,
        AuditAction::UserActivated,
        AuditAction::UserDeactivated,
        AuditAction::UserDeleted,
        AuditAction::AccessDenied,
        AuditAction::UserMfaEnabled,
        AuditAction::UserMfaDisabled,
        AuditAction::UserMfaReset,
        AuditAction::UserPasswordReset,
        AuditAction::UserEmailChanged,
        AuditAction::ReviewApproved,
        AuditAction::ReviewRejected,
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
            AuditAction::AccessDenied => "access.denied",
            AuditAction::UserMfaEnabled => "user.mfa_enabled",
            AuditAction::UserMfaDisabled => "user.mfa_disabled",
            AuditAction::UserMfaReset => "user.mfa_reset",
            AuditAction::UserPasswordReset => "user.password_reset",
            AuditAction::UserEmailChanged => "user.email_changed",
            AuditAction::ReviewApproved => "review.approved",
            AuditAction::ReviewRejected => "review.rejected",
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
    /// `role:<name>`, `user:<id>` or `review:<id>`.
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

    /// A change the user made to its own account (`user.password_reset`,
    /// `user.mfa_enabled`…), or an administrator's `user.mfa_reset`.
    pub fn account_change(action: AuditAction, user: &User) -> Self {
        Self::user(action, user, json!({}))
    }

    /// `user.email_changed`, from `from` to the user's (new) address.
    pub fn email_changed(user: &User, from: &crate::Email) -> Self {
        Self::user(AuditAction::UserEmailChanged, user, json!({ "from": from.as_str(), "to": user.email.as_str() }))
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

/// An administrative operation that the no-privilege-escalation rule guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardedOperation {
    /// Granting a permission to a role.
    GrantPermission,
    /// Giving a user another role.
    AssignRole,
    /// Deactivating or reactivating a user.
    ChangeActivation,
    DeleteUser,
    /// Resetting a user's second factor.
    ResetMfa,
}

impl GuardedOperation {
    pub const fn as_str(self) -> &'static str {
        match self {
            GuardedOperation::GrantPermission => "grant_permission",
            GuardedOperation::AssignRole => "assign_role",
            GuardedOperation::ChangeActivation => "change_activation",
            GuardedOperation::DeleteUser => "delete_user",
            GuardedOperation::ResetMfa => "reset_mfa",
        }
    }
}

/// The caller lacks permissions that the operation involves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("you cannot {} beyond the permissions you hold yourself", operation.as_str())]
pub struct PrivilegeEscalation {
    pub operation: GuardedOperation,
    /// What the caller would need and does not hold, in catalogue order.
    pub missing: Vec<Permission>,
}

impl PrivilegeEscalation {
    /// The `access.denied` audit entry of this refusal, on `target` (`role:…` or `user:…`).
    pub fn audit(&self, target: String) -> AuditDraft {
        let missing: Vec<&str> = self.missing.iter().map(|p| p.as_str()).collect();
        AuditDraft {
            action: AuditAction::AccessDenied,
            target,
            details: json!({ "operation": self.operation.as_str(), "missing": missing }),
        }
    }
}

/// The no-privilege-escalation rule: `actor` may perform `operation` only if it holds every
/// permission `involved` — the permission granted, or the permissions of the user's current
/// role (for a role change, together with those of the role assigned). `admin` holds every
/// permission, so admins always may.
pub fn authorize_delegation(
    actor: &PermissionSet,
    operation: GuardedOperation,
    involved: &PermissionSet,
) -> Result<(), PrivilegeEscalation> {
    if actor.is_superset(involved) {
        Ok(())
    } else {
        Err(PrivilegeEscalation { operation, missing: actor.missing_from(involved) })
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
            email_verified: false,
            mfa_enabled: false,
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

    fn set(permissions: &[Permission]) -> PermissionSet {
        permissions.iter().copied().collect()
    }

    #[test]
    fn no_one_acts_beyond_the_permissions_it_holds() {
        use Permission::*;
        let support = set(&[UsersManage]);
        let admin_role = PermissionSet::for_role(&RoleName::admin(), []);
        let refused = authorize_delegation(&support, GuardedOperation::AssignRole, &admin_role).unwrap_err();
        assert!(!refused.missing.contains(&UsersManage));
        assert_eq!(refused.missing.len(), Permission::ALL.len() - 1);
        let refused = authorize_delegation(&support, GuardedOperation::GrantPermission, &set(&[RolesManage]));
        assert_eq!(refused.unwrap_err().missing, vec![RolesManage]);
        // Holding exactly or more than what is involved is fine; nothing involved always is.
        assert!(authorize_delegation(&support, GuardedOperation::DeleteUser, &set(&[UsersManage])).is_ok());
        assert!(authorize_delegation(&support, GuardedOperation::ChangeActivation, &set(&[])).is_ok());
        assert!(authorize_delegation(&admin_role, GuardedOperation::AssignRole, &admin_role).is_ok());
    }

    #[test]
    fn a_refusal_is_audited_as_access_denied_with_what_was_missing() {
        let refused = authorize_delegation(
            &set(&[Permission::UsersManage]),
            GuardedOperation::GrantPermission,
            &set(&[Permission::RolesManage]),
        )
        .unwrap_err();
        let draft = refused.audit("role:support".into());
        assert_eq!(draft.action, AuditAction::AccessDenied);
        assert_eq!(draft.action.as_str(), "access.denied");
        assert_eq!(draft.details, json!({"operation": "grant_permission", "missing": ["roles:manage"]}));
    }

    #[test]
    fn audit_actions_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("user.flew"), None);
    }
}
