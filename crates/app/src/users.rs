//! User administration: listing, reading, changing and deleting other users' accounts.

use crate::access::EscalationGuard;
use crate::ports::{
    AuditContext, Clock, Page, PageRequest, SecondFactorRepository, UserAdminRepository, UserFilter, UserRepository,
};
use crate::{AppError, Principal};
use std::sync::Arc;
use storefront_domain::text::search_term;
use storefront_domain::{
    AdminUserChange, AuditAction, FieldViolation, GuardedOperation, RoleName, User, UserId, UserName,
};

/// An administrator's change as submitted; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct AdminUserUpdate {
    pub name: Option<String>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Clone)]
pub struct UserAdminService {
    users: Arc<dyn UserRepository>,
    admin: Arc<dyn UserAdminRepository>,
    factors: Arc<dyn SecondFactorRepository>,
    guard: EscalationGuard,
    clock: Arc<dyn Clock>,
}

impl UserAdminService {
    /// `guard` applies the no-privilege-escalation rule (`AccessService::guard`).
    pub fn new(
        users: Arc<dyn UserRepository>,
        admin: Arc<dyn UserAdminRepository>,
        factors: Arc<dyn SecondFactorRepository>,
        guard: EscalationGuard,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { users, admin, factors, guard, clock }
    }

    pub async fn list(
        &self,
        q: Option<String>,
        role: Option<String>,
        page: PageRequest,
    ) -> Result<Page<User>, AppError> {
        let role = match role.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(raw) => Some(RoleName::parse(raw).map_err(|e| AppError::Validation(vec![e.at("role")]))?),
            None => None,
        };
        let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if let Some(Err(e)) = q.as_deref().map(search_term) {
            return Err(AppError::Validation(vec![e.at("q")]));
        }
        Ok(self.admin.list(&UserFilter { q, role }, page).await?)
    }

    pub async fn get(&self, id: UserId) -> Result<User, AppError> {
        self.users.find_by_id(id).await?.ok_or(AppError::NotFound)
    }

    /// Renames, re-roles, activates or deactivates a user; never leaves no active admin.
    /// A role change, deactivation or reactivation needs every permission of the user's
    /// current role (and of the role assigned), see `EscalationGuard::may_act_on_user`.
    pub async fn update(&self, actor: &Principal, id: UserId, update: AdminUserUpdate) -> Result<User, AppError> {
        let mut violations: Vec<FieldViolation> = Vec::new();
        let change = AdminUserChange {
            name: update
                .name
                .as_deref()
                .and_then(|raw| UserName::parse(raw).map_err(|e| violations.push(e.at("name"))).ok()),
            role: update.role.as_deref().and_then(|raw| {
                RoleName::parse(raw).map_err(|_| violations.push(FieldViolation::new("role", "does not exist"))).ok()
            }),
            is_active: update.is_active,
        };
        if !violations.is_empty() {
            return Err(AppError::Validation(violations));
        }
        if change.role.is_some() || change.is_active.is_some() {
            let target = self.get(id).await?;
            let operation =
                if change.role.is_some() { GuardedOperation::AssignRole } else { GuardedOperation::ChangeActivation };
            self.guard.may_act_on_user(actor, operation, &target, change.role.as_ref()).await?;
        }
        let ctx = AuditContext { actor: actor.user.id, now: self.clock.now() };
        Ok(self.admin.apply_change(id, &change, ctx).await?)
    }

    /// Deletes a user as `DELETE /users/me` does; never the last active admin, and only by
    /// a caller that holds every permission of the user's role.
    pub async fn delete(&self, actor: &Principal, id: UserId) -> Result<(), AppError> {
        let target = match self.get(id).await {
            // Deleted while the request ran: to the caller, its token names no one.
            Err(AppError::NotFound) if id == actor.user.id => return Err(AppError::InvalidToken),
            found => found?,
        };
        self.guard.may_act_on_user(actor, GuardedOperation::DeleteUser, &target, None).await?;
        let ctx = AuditContext { actor: actor.user.id, now: self.clock.now() };
        match self.admin.delete(id, ctx).await {
            Err(err) if id == actor.user.id => Err(AppError::on_own_account(err)),
            outcome => Ok(outcome?),
        }
    }

    /// Turns a user's second factor off (a lost authenticator and lost recovery codes) and
    /// ends the user's sessions; audited `user.mfa_reset`. Only by a caller that holds every
    /// permission of the user's role.
    pub async fn reset_mfa(&self, actor: &Principal, id: UserId) -> Result<(), AppError> {
        let target = self.get(id).await?;
        self.guard.may_act_on_user(actor, GuardedOperation::ResetMfa, &target, None).await?;
        let ctx = AuditContext { actor: actor.user.id, now: self.clock.now() };
        Ok(self.factors.disable_mfa(id, None, AuditAction::UserMfaReset, ctx).await?)
    }
}
