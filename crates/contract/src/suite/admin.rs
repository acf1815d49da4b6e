//! Contract of `RoleRepository`, `UserAdminRepository` and `AuditLog`: roles and grants,
//! administrative user changes with the last-admin rule, and the audit trail they leave.

use super::support::{create_user, create_user_with_role, now, start_session};
use crate::Stores;
use std::collections::HashSet;
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, AuditFilter, PageRequest, RotateOutcome, UserFilter};
use storefront_domain::{AdminUserChange, AuditAction, Permission, RoleName, User, UserId, UserName};

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn ctx(actor: UserId) -> AuditContext {
    AuditContext { actor, now: now() }
}

fn all() -> PageRequest {
    PageRequest { limit: 100, offset: 0 }
}

fn to_role(name: &str) -> AdminUserChange {
    AdminUserChange { role: Some(role(name)), ..Default::default() }
}

fn active(flag: bool) -> AdminUserChange {
    AdminUserChange { is_active: Some(flag), ..Default::default() }
}

async fn actions(stores: &Stores) -> Vec<AuditAction> {
    stores.audit.list(&AuditFilter::default(), all()).await.unwrap().items.into_iter().map(|e| e.action).collect()
}

async fn admin(stores: &Stores, email: &str) -> User {
    create_user_with_role(stores, email, RoleName::ADMIN).await
}

pub async fn built_in_roles_are_listed_by_name_with_their_grants(stores: Stores) {
    let roles = stores.roles.list().await.unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["admin", "moderator", "user"]);
    assert!(roles.iter().all(|r| r.builtin));
    assert_eq!(roles[0].permissions.len(), Permission::ALL.len());
    assert_eq!(roles[2].permissions, vec![Permission::ProductsCreate, Permission::AiUse]);
}

pub async fn a_created_role_is_listed_without_grants_and_audited(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let created = stores.roles.create(&role("editor"), "Edits things", ctx(actor.id)).await.unwrap();
    assert_eq!(
        (created.name.as_str(), created.description.as_str(), created.builtin),
        ("editor", "Edits things", false)
    );
    assert!(created.permissions.is_empty());
    assert!(stores.roles.list().await.unwrap().iter().any(|r| r.name.as_str() == "editor"));

    let log = stores.audit.list(&AuditFilter::default(), all()).await.unwrap();
    assert_eq!(log.total, 1);
    let entry = &log.items[0];
    assert_eq!(
        (entry.action, entry.target.as_str(), entry.actor_id),
        (AuditAction::RoleCreated, "role:editor", Some(actor.id))
    );
}

pub async fn creating_an_existing_role_is_a_conflict(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let err = stores.roles.create(&role("moderator"), "", ctx(actor.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

pub async fn grants_are_idempotent_and_audited_only_when_they_change(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    stores.roles.create(&role("editor"), "", ctx(actor.id)).await.unwrap();
    for _ in 0..2 {
        stores.roles.set_grant(&role("editor"), Permission::CategoriesManage, true, ctx(actor.id)).await.unwrap();
    }
    let editor = stores.roles.list().await.unwrap().into_iter().find(|r| r.name.as_str() == "editor").unwrap();
    assert_eq!(editor.permissions, vec![Permission::CategoriesManage]);
    for _ in 0..2 {
        stores.roles.set_grant(&role("editor"), Permission::CategoriesManage, false, ctx(actor.id)).await.unwrap();
    }
    assert_eq!(
        actions(&stores).await,
        vec![AuditAction::RolePermissionRevoked, AuditAction::RolePermissionGranted, AuditAction::RoleCreated]
    );
}

pub async fn a_grant_on_an_unknown_role_is_not_found(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let err = stores.roles.set_grant(&role("ghost"), Permission::UsersRead, true, ctx(actor.id)).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound);
}

pub async fn a_changed_grant_takes_effect_on_the_next_principal_load(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;
    stores.roles.set_grant(&role("user"), Permission::UsersRead, true, ctx(actor.id)).await.unwrap();
    let principal = stores.users.load_principal(user.id, session, now()).await.unwrap().unwrap();
    assert!(principal.permissions.contains(Permission::UsersRead));
    stores.roles.set_grant(&role("user"), Permission::UsersRead, false, ctx(actor.id)).await.unwrap();
    let principal = stores.users.load_principal(user.id, session, now()).await.unwrap().unwrap();
    assert!(!principal.permissions.contains(Permission::UsersRead));
}

pub async fn a_user_given_a_custom_role_holds_exactly_its_grants(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;
    stores.roles.create(&role("editor"), "", ctx(actor.id)).await.unwrap();
    stores.roles.set_grant(&role("editor"), Permission::CategoriesManage, true, ctx(actor.id)).await.unwrap();
    let changed = stores.user_admin.apply_change(user.id, &to_role("editor"), ctx(actor.id)).await.unwrap();
    assert_eq!(changed.role.as_str(), "editor");
    let principal = stores.users.load_principal(user.id, session, now()).await.unwrap().unwrap();
    assert_eq!(principal.permissions.iter().collect::<Vec<_>>(), vec![Permission::CategoriesManage]);
}

pub async fn built_in_held_and_unknown_roles_cannot_be_deleted(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let err = stores.roles.delete(&role("moderator"), ctx(actor.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(stores.roles.delete(&role("ghost"), ctx(actor.id)).await.unwrap_err(), StoreError::NotFound);

    stores.roles.create(&role("editor"), "", ctx(actor.id)).await.unwrap();
    let user = create_user(&stores, "ada@example.com").await;
    stores.user_admin.apply_change(user.id, &to_role("editor"), ctx(actor.id)).await.unwrap();
    let err = stores.roles.delete(&role("editor"), ctx(actor.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    stores.user_admin.apply_change(user.id, &to_role("user"), ctx(actor.id)).await.unwrap();
    stores.roles.delete(&role("editor"), ctx(actor.id)).await.unwrap();
    assert!(!stores.roles.list().await.unwrap().iter().any(|r| r.name.as_str() == "editor"));
    assert_eq!(actions(&stores).await[0], AuditAction::RoleDeleted);
}

pub async fn users_are_listed_newest_first_and_filtered_by_text_and_role(stores: Stores) {
    let a = create_user(&stores, "alice@example.com").await;
    let b = create_user(&stores, "bob@shop.example").await;
    let c = create_user_with_role(&stores, "carol@example.com", RoleName::MODERATOR).await;
    let page = stores.user_admin.list(&UserFilter::default(), all()).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items.iter().map(|u| u.id).collect::<Vec<_>>(), vec![c.id, b.id, a.id]);

    let by_text = UserFilter { q: Some("SHOP".into()), role: None };
    assert_eq!(stores.user_admin.list(&by_text, all()).await.unwrap().items, vec![b.clone()]);
    let by_role = UserFilter { q: None, role: Some(role("moderator")) };
    assert_eq!(stores.user_admin.list(&by_role, all()).await.unwrap().items, vec![c.clone()]);

    let second = stores.user_admin.list(&UserFilter::default(), PageRequest { limit: 1, offset: 1 }).await.unwrap();
    assert_eq!((second.total, second.items), (3, vec![b]));
}

pub async fn user_search_treats_wildcards_as_plain_text(stores: Stores) {
    create_user(&stores, "alice@example.com").await;
    for q in ["%", "_", "\\"] {
        let filter = UserFilter { q: Some(q.into()), role: None };
        assert_eq!(stores.user_admin.list(&filter, all()).await.unwrap().total, 0, "{q}");
    }
    let name_match = UserFilter { q: Some("lovelace".into()), role: None };
    assert_eq!(stores.user_admin.list(&name_match, all()).await.unwrap().total, 1);
}

pub async fn a_role_change_is_stored_and_audited_with_from_and_to(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let user = create_user(&stores, "ada@example.com").await;
    let change = AdminUserChange { name: Some(UserName::parse("Countess").unwrap()), ..to_role("moderator") };
    let changed = stores.user_admin.apply_change(user.id, &change, ctx(actor.id)).await.unwrap();
    assert_eq!((changed.role.as_str(), changed.name.as_str()), ("moderator", "Countess"));
    assert_eq!(stores.users.find_by_id(user.id).await.unwrap().unwrap(), changed);
    let entry = stores.audit.list(&AuditFilter::default(), all()).await.unwrap().items.remove(0);
    assert_eq!(entry.action, AuditAction::UserRoleChanged);
    assert_eq!(entry.target, format!("user:{}", user.id));
    assert_eq!(entry.details, serde_json::json!({"from": "user", "to": "moderator"}));
}

pub async fn an_unknown_role_or_user_is_refused(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let user = create_user(&stores, "ada@example.com").await;
    let err = stores.user_admin.apply_change(user.id, &to_role("ghost"), ctx(actor.id)).await.unwrap_err();
    assert_eq!(err, StoreError::InvalidReference("role".into()));
    let ghost = UserId(uuid::Uuid::now_v7());
    assert_eq!(
        stores.user_admin.apply_change(ghost, &to_role("user"), ctx(actor.id)).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(stores.user_admin.delete(ghost, ctx(actor.id)).await.unwrap_err(), StoreError::NotFound);
}

pub async fn deactivating_a_user_ends_its_sessions_and_is_audited(stores: Stores) {
    let actor = admin(&stores, "root@example.com").await;
    let user = create_user(&stores, "ada@example.com").await;
    let (session, token) = start_session(&stores, user.id).await;
    let changed = stores.user_admin.apply_change(user.id, &active(false), ctx(actor.id)).await.unwrap();
    assert!(!changed.is_active);
    assert!(stores.users.load_principal(user.id, session, now()).await.unwrap().is_none());
    let replacement = super::support::new_refresh_token(now() + chrono::Duration::days(1));
    let outcome = stores.sessions.rotate(&token, replacement, now(), super::support::GRACE).await.unwrap();
    assert!(!matches!(outcome, RotateOutcome::Rotated { .. }), "{outcome:?}");
    assert!(stores.sessions.list_active(user.id, now()).await.unwrap().is_empty());

    stores.user_admin.apply_change(user.id, &active(true), ctx(actor.id)).await.unwrap();
    assert_eq!(actions(&stores).await, vec![AuditAction::UserActivated, AuditAction::UserDeactivated]);
}

pub async fn the_last_active_admin_can_be_neither_demoted_deactivated_nor_deleted(stores: Stores) {
    let root = admin(&stores, "root@example.com").await;
    for change in [to_role("user"), active(false)] {
        let err = stores.user_admin.apply_change(root.id, &change, ctx(root.id)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    assert!(matches!(stores.user_admin.delete(root.id, ctx(root.id)).await.unwrap_err(), StoreError::Conflict(_)));
    assert!(stores.users.find_by_id(root.id).await.unwrap().unwrap().role.is_admin());
    assert!(actions(&stores).await.is_empty(), "a refused change leaves no audit entry");

    // With a second active admin, one of them may go.
    let second = admin(&stores, "second@example.com").await;
    stores.user_admin.apply_change(root.id, &to_role("user"), ctx(second.id)).await.unwrap();
    assert!(stores.user_admin.delete(second.id, ctx(second.id)).await.is_err());
}

pub async fn an_inactive_admin_does_not_count_as_the_remaining_admin(stores: Stores) {
    let root = admin(&stores, "root@example.com").await;
    let dormant = admin(&stores, "dormant@example.com").await;
    stores.user_admin.apply_change(dormant.id, &active(false), ctx(root.id)).await.unwrap();
    let err = stores.user_admin.apply_change(root.id, &to_role("user"), ctx(root.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

pub async fn two_concurrent_demotions_of_the_last_two_admins_let_exactly_one_succeed(stores: Stores) {
    for round in 0..5 {
        let a = admin(&stores, &format!("a{round}@example.com")).await;
        let b = admin(&stores, &format!("b{round}@example.com")).await;
        // Keep the admins of earlier rounds out of the count.
        for other in
            stores.user_admin.list(&UserFilter { q: None, role: Some(role("admin")) }, all()).await.unwrap().items
        {
            if other.id != a.id && other.id != b.id && other.is_active {
                stores.user_admin.apply_change(other.id, &active(false), ctx(a.id)).await.unwrap();
            }
        }
        let (users_a, users_b) = (stores.user_admin.clone(), stores.user_admin.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { users_a.apply_change(a.id, &to_role("user"), ctx(b.id)).await }),
            tokio::spawn(async move { users_b.apply_change(b.id, &to_role("user"), ctx(a.id)).await }),
        );
        let results = [ra.unwrap(), rb.unwrap()];
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(StoreError::Conflict(_)))));
    }
}

pub async fn deleting_a_user_is_audited_with_its_actor(stores: Stores) {
    let root = admin(&stores, "root@example.com").await;
    let user = create_user(&stores, "ada@example.com").await;
    stores.user_admin.delete(user.id, ctx(user.id)).await.unwrap();
    assert!(stores.users.find_by_id(user.id).await.unwrap().is_none());
    let entry = stores.audit.list(&AuditFilter::default(), all()).await.unwrap().items.remove(0);
    assert_eq!((entry.action, entry.actor_id), (AuditAction::UserDeleted, Some(user.id)));
    assert_eq!(entry.target, format!("user:{}", user.id));
    assert!(stores.users.find_by_id(root.id).await.unwrap().is_some());
}

pub async fn the_audit_log_is_newest_first_filtered_and_paginated(stores: Stores) {
    let root = admin(&stores, "root@example.com").await;
    let other = admin(&stores, "other@example.com").await;
    stores.roles.create(&role("r1"), "", ctx(root.id)).await.unwrap();
    stores.roles.create(&role("r2"), "", ctx(other.id)).await.unwrap();
    stores.roles.set_grant(&role("r1"), Permission::UsersRead, true, ctx(root.id)).await.unwrap();

    let log = stores.audit.list(&AuditFilter::default(), all()).await.unwrap();
    assert_eq!(log.total, 3);
    let targets: Vec<&str> = log.items.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, vec!["role:r1", "role:r2", "role:r1"]);
    let ids: HashSet<_> = log.items.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 3);

    let by_action = AuditFilter { action: Some(AuditAction::RoleCreated), actor_id: None };
    assert_eq!(stores.audit.list(&by_action, all()).await.unwrap().total, 2);
    let by_actor = AuditFilter { action: None, actor_id: Some(other.id) };
    let mine = stores.audit.list(&by_actor, all()).await.unwrap();
    assert_eq!((mine.total, mine.items[0].target.as_str()), (1, "role:r2"));
    let page = stores.audit.list(&AuditFilter::default(), PageRequest { limit: 1, offset: 2 }).await.unwrap();
    assert_eq!((page.total, page.items.len(), page.items[0].action), (3, 1, AuditAction::RoleCreated));
}

pub async fn a_refused_attempt_is_recorded_on_its_own_and_listed_as_access_denied(stores: Stores) {
    let actor = create_user(&stores, "eve@example.com").await;
    let draft = storefront_domain::AuditDraft {
        action: AuditAction::AccessDenied,
        target: format!("user:{}", actor.id),
        details: serde_json::json!({"operation": "assign_role", "missing": ["roles:manage"]}),
    };
    stores.audit.record(draft.clone(), ctx(actor.id)).await.unwrap();
    let filter = AuditFilter { action: Some(AuditAction::AccessDenied), actor_id: Some(actor.id) };
    let log = stores.audit.list(&filter, all()).await.unwrap();
    assert_eq!(log.total, 1);
    let entry = &log.items[0];
    assert_eq!(
        (entry.action, &entry.target, &entry.details),
        (AuditAction::AccessDenied, &draft.target, &draft.details)
    );
    assert_eq!(entry.actor_id, Some(actor.id));
    assert_eq!(actions(&stores).await, vec![AuditAction::AccessDenied]);
}
