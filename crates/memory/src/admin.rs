//! Roles, grants, administrative user changes and the audit log over the in-memory state.
//! Each method holds the store lock throughout, so the last-admin rule cannot race.

use crate::store::{MemoryStore, State, StoredRole};
use async_trait::async_trait;
use storefront_app::StoreError;
use storefront_app::ports::{
    AuditContext, AuditEntry, AuditFilter, AuditLog, Page, PageRequest, RoleRepository, UserAdminRepository, UserFilter,
};
use storefront_domain::{
    AdminUserChange, AuditDraft, Permission, Role, RoleName, User, UserId, plan_admin_change, plan_user_deletion,
};

impl State {
    pub(crate) fn record(&mut self, draft: AuditDraft, ctx: AuditContext) {
        self.audit.push(AuditEntry {
            id: uuid::Uuid::now_v7(),
            at: ctx.now,
            actor_id: Some(ctx.actor),
            action: draft.action,
            target: draft.target,
            details: draft.details,
        });
    }

    fn other_active_admins(&self, id: UserId) -> usize {
        self.users.values().filter(|s| s.user.id != id && s.user.is_active && s.user.role.is_admin()).count()
    }

    fn role(&self, name: &RoleName) -> Option<Role> {
        self.roles.get(name).map(|stored| Role {
            name: name.clone(),
            description: stored.description.clone(),
            builtin: stored.builtin,
            permissions: if name.is_admin() {
                Permission::ALL.to_vec()
            } else {
                stored.grants.iter().copied().collect()
            },
        })
    }
}

/// One page of a complete, ordered list, with the list's length.
pub(crate) fn page_of<T: Clone>(matching: Vec<T>, page: PageRequest) -> Page<T> {
    let total = matching.len() as u64;
    let items = matching
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(page.limit as usize)
        .collect();
    Page { items, total }
}

#[async_trait]
impl RoleRepository for MemoryStore {
    async fn list(&self) -> Result<Vec<Role>, StoreError> {
        let state = self.state.lock().await;
        Ok(state.roles.keys().filter_map(|name| state.role(name)).collect())
    }

    async fn create(&self, name: &RoleName, description: &str, ctx: AuditContext) -> Result<Role, StoreError> {
        let mut state = self.state.lock().await;
        if state.roles.contains_key(name) {
            return Err(StoreError::Conflict(format!("the role `{name}` already exists")));
        }
        let stored = StoredRole { description: description.to_owned(), builtin: false, grants: Default::default() };
        state.roles.insert(name.clone(), stored);
        state.record(AuditDraft::role_created(name, description), ctx);
        state.role(name).ok_or(StoreError::NotFound)
    }

    async fn delete(&self, name: &RoleName, ctx: AuditContext) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.roles.get(name).ok_or(StoreError::NotFound)?;
        if stored.builtin {
            return Err(StoreError::Conflict(format!("`{name}` is a built-in role and cannot be deleted")));
        }
        if state.users.values().any(|s| &s.user.role == name) {
            return Err(StoreError::Conflict(format!("the role `{name}` is still held by users")));
        }
        state.roles.remove(name);
        state.record(AuditDraft::role_deleted(name), ctx);
        Ok(())
    }

    async fn set_grant(
        &self,
        role: &RoleName,
        permission: Permission,
        granted: bool,
        ctx: AuditContext,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.roles.get_mut(role).ok_or(StoreError::NotFound)?;
        let changed = if granted { stored.grants.insert(permission) } else { stored.grants.remove(&permission) };
        if changed {
            state.record(AuditDraft::grant_changed(role, permission, granted), ctx);
        }
        Ok(())
    }
}

#[async_trait]
impl UserAdminRepository for MemoryStore {
    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, StoreError> {
        let state = self.state.lock().await;
        let q = filter.q.as_deref().map(str::to_lowercase);
        let mut matching: Vec<User> = state
            .users
            .values()
            .map(|s| &s.user)
            .filter(|u| filter.role.as_ref().is_none_or(|r| &u.role == r))
            .filter(|u| {
                q.as_deref().is_none_or(|q| u.email.as_str().contains(q) || u.name.as_str().to_lowercase().contains(q))
            })
            .cloned()
            .collect();
        matching.sort_by_key(|u| std::cmp::Reverse((u.created_at, u.id)));
        Ok(page_of(matching, page))
    }

    async fn apply_change(&self, id: UserId, change: &AdminUserChange, ctx: AuditContext) -> Result<User, StoreError> {
        let mut state = self.state.lock().await;
        let before = state.users.get(&id).map(|s| s.user.clone()).ok_or(StoreError::NotFound)?;
        if let Some(role) = &change.role
            && !state.roles.contains_key(role)
        {
            return Err(StoreError::InvalidReference("role".into()));
        }
        let plan = plan_admin_change(&before, change, state.other_active_admins(id), ctx.now)
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        if let Some(stored) = state.users.get_mut(&id) {
            stored.user = plan.after.clone();
        }
        if plan.deactivated {
            for session in state.sessions.values_mut().filter(|s| s.session.user_id == id) {
                session.revoke(ctx.now);
            }
        }
        for draft in plan.audit {
            state.record(draft, ctx);
        }
        Ok(plan.after)
    }

    async fn delete(&self, id: UserId, ctx: AuditContext) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let user = state.users.get(&id).map(|s| s.user.clone()).ok_or(StoreError::NotFound)?;
        let draft = plan_user_deletion(&user, state.other_active_admins(id))
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        state.remove_user(id)?;
        state.record(draft, ctx);
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn list(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>, StoreError> {
        let state = self.state.lock().await;
        let mut matching: Vec<AuditEntry> = state
            .audit
            .iter()
            .filter(|e| filter.action.is_none_or(|a| e.action == a))
            .filter(|e| filter.actor_id.is_none_or(|a| e.actor_id == Some(a)))
            .cloned()
            .collect();
        matching.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
        Ok(page_of(matching, page))
    }

    async fn record(&self, draft: AuditDraft, ctx: AuditContext) -> Result<(), StoreError> {
        self.state.lock().await.record(draft, ctx);
        Ok(())
    }
}
