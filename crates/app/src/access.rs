//! Access administration: the permission catalogue, roles and their grants, the audit log,
//! and the guard that keeps anyone from handing out or acting on permissions it does not
//! hold itself.

use crate::ports::{AuditContext, AuditEntry, AuditFilter, AuditLog, Clock, Page, PageRequest, RoleRepository};
use crate::{AppError, Principal};
use std::sync::Arc;
use storefront_domain::text::free_text;
use storefront_domain::{GuardedOperation, Permission, PermissionSet, Role, RoleName, User, authorize_delegation};

/// The no-privilege-escalation rule (`storefront_domain::authorize_delegation`) applied to
/// the stored roles, with every refusal audited as `access.denied`. Every service that
/// grants permissions, assigns roles or acts on a user's account goes through it.
#[derive(Clone)]
pub struct EscalationGuard {
    roles: Arc<dyn RoleRepository>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl EscalationGuard {
    pub fn new(roles: Arc<dyn RoleRepository>, audit: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { roles, audit, clock }
    }

    /// The effective permissions of a stored role; `None` for an unknown role.
    pub async fn role_permissions(&self, role: &RoleName) -> Result<Option<PermissionSet>, AppError> {
        let roles = self.roles.list().await?;
        Ok(roles.into_iter().find(|r| &r.name == role).map(|r| PermissionSet::for_role(&r.name, r.permissions)))
    }

    /// Whether `actor` may grant `permission` (to the role `role`).
    ///
    /// # Errors
    /// `Forbidden`, audited, unless the actor holds `permission`.
    pub async fn may_grant(&self, actor: &Principal, role: &RoleName, permission: Permission) -> Result<(), AppError> {
        let involved: PermissionSet = [permission].into_iter().collect();
        self.authorize(actor, GuardedOperation::GrantPermission, &involved, format!("role:{role}")).await
    }

    /// Whether `actor` may perform `operation` (a role change, deactivation, reactivation,
    /// deletion or second-factor reset) on `target`: it must hold every permission of the
    /// target's current role, and for a role change (`new_role`) every permission of the
    /// role assigned too.
    ///
    /// # Errors
    /// `Forbidden`, audited, when the actor lacks one of them; a `new_role` that does not
    /// exist is a validation error naming `role`.
    pub async fn may_act_on_user(
        &self,
        actor: &Principal,
        operation: GuardedOperation,
        target: &User,
        new_role: Option<&RoleName>,
    ) -> Result<(), AppError> {
        // A role that vanished under its holders grants nothing.
        let mut involved = self.role_permissions(&target.role).await?.unwrap_or_default();
        if let Some(role) = new_role {
            let assigned =
                self.role_permissions(role).await?.ok_or_else(|| AppError::validation("role", "does not exist"))?;
            involved = involved.union(&assigned);
        }
        self.authorize(actor, operation, &involved, format!("user:{}", target.id)).await
    }

    async fn authorize(
        &self,
        actor: &Principal,
        operation: GuardedOperation,
        involved: &PermissionSet,
        target: String,
    ) -> Result<(), AppError> {
        let Err(refusal) = authorize_delegation(&actor.permissions, operation, involved) else { return Ok(()) };
        tracing::warn!(
            security_event = "permission_denied",
            operation = operation.as_str(),
            actor_id = %actor.user.id,
            %target,
            "privilege escalation refused"
        );
        let ctx = AuditContext { actor: actor.user.id, now: self.clock.now() };
        self.audit.record(refusal.audit(target), ctx).await?;
        Err(AppError::Forbidden)
    }
}

#[derive(Clone)]
pub struct AccessService {
    roles: Arc<dyn RoleRepository>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    guard: EscalationGuard,
}

impl AccessService {
    pub fn new(roles: Arc<dyn RoleRepository>, audit: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        let guard = EscalationGuard::new(roles.clone(), audit.clone(), clock.clone());
        Self { roles, audit, clock, guard }
    }

    /// The guard of this service, for the other services that must apply the same rule.
    pub fn guard(&self) -> EscalationGuard {
        self.guard.clone()
    }

    fn ctx(&self, actor: &Principal) -> AuditContext {
        AuditContext { actor: actor.user.id, now: self.clock.now() }
    }

    /// The fixed permission catalogue.
    pub fn permissions(&self) -> &'static [Permission] {
        &Permission::ALL
    }

    pub async fn roles(&self) -> Result<Vec<Role>, AppError> {
        Ok(self.roles.list().await?)
    }

    pub async fn create_role(&self, actor: &Principal, name: &str, description: &str) -> Result<Role, AppError> {
        let name = RoleName::parse(name).map_err(|e| AppError::Validation(vec![e.at("name")]))?;
        let description =
            free_text(description.trim(), 500).map_err(|e| AppError::Validation(vec![e.at("description")]))?;
        Ok(self.roles.create(&name, description, self.ctx(actor)).await?)
    }

    pub async fn delete_role(&self, actor: &Principal, name: &str) -> Result<(), AppError> {
        let name = RoleName::parse(name).map_err(|_| AppError::NotFound)?;
        if name.is_builtin() {
            return Err(AppError::Conflict(format!("`{name}` is a built-in role and cannot be deleted")));
        }
        Ok(self.roles.delete(&name, self.ctx(actor)).await?)
    }

    /// Grants or revokes a permission; `admin` always holds every permission. Only a caller
    /// that holds a permission may grant it.
    pub async fn set_grant(
        &self,
        actor: &Principal,
        role: &str,
        permission: &str,
        granted: bool,
    ) -> Result<(), AppError> {
        let role = RoleName::parse(role).map_err(|_| AppError::NotFound)?;
        let permission: Permission = permission.parse().map_err(|_| AppError::NotFound)?;
        if role.is_admin() {
            return Err(AppError::Conflict("`admin` always holds every permission; its grants cannot change".into()));
        }
        if granted {
            self.guard.may_grant(actor, &role, permission).await?;
        }
        Ok(self.roles.set_grant(&role, permission, granted, self.ctx(actor)).await?)
    }

    pub async fn audit_log(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>, AppError> {
        Ok(self.audit.list(filter, page).await?)
    }
}
