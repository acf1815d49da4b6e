//! Contract of `UserRepository::load_principal` (who is calling, with which permissions)
//! and of the session side effects of `change_password`.

use super::support::{
    GRACE, REFRESH_TTL, create_user, create_user_with_role, new_refresh_token, new_session, now, start_session,
};
use crate::Stores;
use chrono::Duration;
use storefront_app::ports::{ProfileChanges, RotateOutcome};
use storefront_domain::{PasswordHash, Permission, RefreshDecision, RoleName, SessionId, UserId, UserName};
use uuid::Uuid;

pub async fn an_active_user_with_an_active_session_loads_with_its_role_permissions(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;

    let principal = stores.users.load_principal(user.id, session, now()).await.unwrap().expect("a principal");

    assert_eq!(principal.user, user);
    assert_eq!(principal.session_id, session);
    assert!(principal.permissions.contains(Permission::ProductsCreate));
    let granted: Vec<Permission> = principal.permissions.iter().collect();
    assert_eq!(
        granted,
        vec![Permission::ProductsCreate, Permission::AiUse],
        "the default grants of `user`, nothing more"
    );
}

pub async fn a_moderator_loads_with_the_default_moderator_grants(stores: Stores) {
    let user = create_user_with_role(&stores, "mod@example.com", RoleName::MODERATOR).await;
    let (session, _) = start_session(&stores, user.id).await;

    let principal = stores.users.load_principal(user.id, session, now()).await.unwrap().expect("a principal");

    let mut expected = user.role.default_grants();
    expected.sort();
    assert_eq!(principal.permissions.iter().collect::<Vec<_>>(), expected);
    assert!(!principal.permissions.contains(Permission::UsersManage));
}

pub async fn an_admin_loads_with_every_permission(stores: Stores) {
    let user = create_user_with_role(&stores, "admin@example.com", RoleName::ADMIN).await;
    let (session, _) = start_session(&stores, user.id).await;

    let principal = stores.users.load_principal(user.id, session, now()).await.unwrap().expect("a principal");

    assert_eq!(principal.user.role, RoleName::admin());
    assert!(Permission::ALL.iter().all(|p| principal.permissions.contains(*p)));
}

pub async fn a_principal_reflects_the_current_profile(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;
    let changes = ProfileChanges { name: Some(UserName::parse("Ada King").unwrap()), email: None };
    let updated = stores.users.update_profile(user.id, changes, now()).await.unwrap();

    let principal = stores.users.load_principal(user.id, session, now()).await.unwrap().expect("a principal");

    assert_eq!(principal.user, updated, "loaded fresh, not cached from the login");
}

pub async fn no_principal_loads_for_another_users_session(stores: Stores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let (graces_session, _) = start_session(&stores, grace.id).await;

    let principal = stores.users.load_principal(ada.id, graces_session, now()).await.unwrap();

    assert!(principal.is_none());
}

pub async fn no_principal_loads_for_an_unknown_user_or_session(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;
    let t = now();

    assert!(stores.users.load_principal(user.id, SessionId(Uuid::now_v7()), t).await.unwrap().is_none());
    assert!(stores.users.load_principal(UserId(Uuid::now_v7()), session, t).await.unwrap().is_none());
}

pub async fn no_principal_loads_for_an_ended_session(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (ended, _) = start_session(&stores, user.id).await;
    let (other, _) = start_session(&stores, user.id).await;

    assert!(stores.sessions.end(user.id, ended, now()).await.unwrap());

    assert!(stores.users.load_principal(user.id, ended, now()).await.unwrap().is_none());
    assert!(stores.users.load_principal(user.id, other, now()).await.unwrap().is_some(), "only that session ended");
}

pub async fn no_principal_loads_for_a_session_at_or_after_its_expiry(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let created = now();
    let session = new_session(user.id, created);
    let (id, expires_at) = (session.id, session.refresh.expires_at);
    stores.sessions.start(session).await.unwrap();

    let just_before = expires_at - Duration::microseconds(1);
    assert!(stores.users.load_principal(user.id, id, just_before).await.unwrap().is_some());
    assert!(stores.users.load_principal(user.id, id, expires_at).await.unwrap().is_none(), "expired at its expiry");
    assert!(stores.users.load_principal(user.id, id, expires_at + Duration::hours(1)).await.unwrap().is_none());
}

pub async fn a_rotated_session_stays_active_until_its_newest_token_expires(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let created = now();
    let session = new_session(user.id, created);
    let (id, first) = (session.id, session.refresh.hash.clone());
    let first_expiry = session.refresh.expires_at;
    stores.sessions.start(session).await.unwrap();

    // Rotated a day later, so the family now lives a day longer than its first token.
    let rotated_at = created + Duration::days(1);
    let replacement = new_refresh_token(rotated_at + REFRESH_TTL);
    let outcome = stores.sessions.rotate(&first, replacement, rotated_at, GRACE).await.unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated { .. }));

    let after_first_expiry = first_expiry + Duration::hours(1);
    assert!(stores.users.load_principal(user.id, id, after_first_expiry).await.unwrap().is_some());
    assert_eq!(stores.sessions.list_active(user.id, after_first_expiry).await.unwrap().len(), 1);
    let after_newest_expiry = rotated_at + REFRESH_TTL;
    assert!(stores.users.load_principal(user.id, id, after_newest_expiry).await.unwrap().is_none());
}

pub async fn changing_the_password_ends_every_other_session_but_keeps_the_current_one(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (keep, keep_token) = start_session(&stores, user.id).await;
    let (phone, phone_token) = start_session(&stores, user.id).await;
    let (laptop, laptop_token) = start_session(&stores, user.id).await;
    let t = now();

    stores.users.change_password(user.id, PasswordHash::new("$2b$04$new"), keep, t).await.unwrap();

    assert!(stores.users.load_principal(user.id, keep, t).await.unwrap().is_some(), "the current session stays");
    for ended in [phone, laptop] {
        assert!(stores.users.load_principal(user.id, ended, t).await.unwrap().is_none());
    }
    for token in [phone_token, laptop_token] {
        let outcome = stores.sessions.rotate(&token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject), "the other families are revoked");
    }
    let outcome = stores.sessions.rotate(&keep_token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated { user_id: user.id, session_id: keep });
    let listed: Vec<SessionId> =
        stores.sessions.list_active(user.id, t).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, vec![keep]);
}

pub async fn changing_the_password_leaves_other_users_sessions_alone(stores: Stores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let (keep, _) = start_session(&stores, ada.id).await;
    let (graces, _) = start_session(&stores, grace.id).await;

    stores.users.change_password(ada.id, PasswordHash::new("$2b$04$new"), keep, now()).await.unwrap();

    assert!(stores.users.load_principal(grace.id, graces, now()).await.unwrap().is_some());
}
