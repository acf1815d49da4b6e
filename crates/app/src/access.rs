//! Access administration: the permission catalogue, roles and their grants, the audit log.

use crate::ports::{AuditContext, AuditEntry, AuditFilter, AuditLog, Clock, Page, PageRequest, RoleRepository};
use crate::{AppError, Principal};
use std::sync::Arc;
use storefront_domain::{Permission, Role, RoleName};

#[derive(Clone)]
pub struct AccessService {
    roles: Arc<dyn RoleRepository>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl AccessService {
    pub fn new(roles: Arc<dyn RoleRepository>, audit: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { roles, audit, clock }
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
        let description = description.trim();
        if description.chars().count() > 500 {
            return Err(AppError::validation("description", "must be at most 500 characters"));
        }
        Ok(self.roles.create(&name, description, self.ctx(actor)).await?)
    }

    pub async fn delete_role(&self, actor: &Principal, name: &str) -> Result<(), AppError> {
        let name = RoleName::parse(name).map_err(|_| AppError::NotFound)?;
        if name.is_builtin() {
            return Err(AppError::Conflict(format!("`{name}` is a built-in role and cannot be deleted")));
        }
        Ok(self.roles.delete(&name, self.ctx(actor)).await?)
    }

    /// Grants or revokes a permission; `admin` always holds every permission.
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
        Ok(self.roles.set_grant(&role, permission, granted, self.ctx(actor)).await?)
    }

    pub async fn audit_log(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>, AppError> {
        Ok(self.audit.list(filter, page).await?)
    }
}
