//! Contract of `UserRepository`: creating, finding, updating, re-hashing and deleting
//! accounts.

use super::support::{GRACE, create_user, email, new_refresh_token, new_user, now, start_session};
use crate::Stores;
use chrono::Duration;
use storefront_app::StoreError;
use storefront_app::ports::{ProfileChanges, RotateOutcome};
use storefront_domain::{PasswordHash, RoleName, SessionId, UserId, UserName};
use uuid::Uuid;

pub async fn creating_a_user_returns_it_active_with_the_role_and_timestamps_given(stores: Stores) {
    let new = new_user("ada@example.com");
    let user = stores.users.create(new.clone()).await.unwrap();

    assert_eq!(user.id, new.id);
    assert_eq!(user.email, new.email);
    assert_eq!(user.name, new.name);
    assert_eq!(user.role, RoleName::user());
    assert!(user.is_active, "a new user is active");
    assert_eq!(user.created_at, new.created_at);
    assert_eq!(user.updated_at, new.created_at, "a new user was last updated when created");
}

pub async fn a_created_user_is_found_by_id(stores: Stores) {
    let created = create_user(&stores, "ada@example.com").await;

    let found = stores.users.find_by_id(created.id).await.unwrap();

    assert_eq!(found, Some(created));
}

pub async fn a_created_user_is_found_by_email_whatever_case_it_was_typed_in(stores: Stores) {
    let created = create_user(&stores, "Ada@Example.com").await;

    for typed in ["ada@example.com", "ADA@EXAMPLE.COM", "  aDa@example.COM "] {
        let found = stores.users.find_credentials_by_email(&email(typed)).await.unwrap();
        assert_eq!(found.map(|c| c.user), Some(created.clone()), "looked up as {typed:?}");
    }
}

pub async fn credentials_carry_the_stored_password_hash(stores: Stores) {
    let new = new_user("ada@example.com");
    stores.users.create(new.clone()).await.unwrap();

    let by_email = stores.users.find_credentials_by_email(&new.email).await.unwrap().unwrap();
    let by_id = stores.users.find_credentials_by_id(new.id).await.unwrap().unwrap();

    assert_eq!(by_email.password_hash, new.password_hash);
    assert_eq!(by_id.password_hash, new.password_hash);
    assert_eq!(by_id.user.id, new.id);
}

pub async fn looking_up_an_unknown_user_finds_nothing(stores: Stores) {
    create_user(&stores, "ada@example.com").await;
    let unknown = UserId(Uuid::now_v7());

    assert_eq!(stores.users.find_by_id(unknown).await.unwrap(), None);
    assert!(stores.users.find_credentials_by_id(unknown).await.unwrap().is_none());
    assert!(stores.users.find_credentials_by_email(&email("grace@example.com")).await.unwrap().is_none());
}

pub async fn creating_a_user_with_an_email_taken_in_another_case_returns_email_taken(stores: Stores) {
    create_user(&stores, "ada@example.com").await;

    for typed in ["ada@example.com", "ADA@example.com", " Ada@Example.COM "] {
        let err = stores.users.create(new_user(typed)).await.unwrap_err();
        assert_eq!(err, StoreError::EmailTaken, "registered as {typed:?}");
    }
}

pub async fn creating_a_user_with_a_taken_email_leaves_the_existing_user_unchanged(stores: Stores) {
    let first = create_user(&stores, "ada@example.com").await;
    let second = new_user("ADA@example.com");

    stores.users.create(second.clone()).await.unwrap_err();

    assert_eq!(stores.users.find_by_id(second.id).await.unwrap(), None);
    let found = stores.users.find_credentials_by_email(&first.email).await.unwrap().unwrap();
    assert_eq!(found.user, first);
}

pub async fn updating_a_profile_changes_the_given_fields_and_bumps_updated_at(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let later = user.updated_at + Duration::seconds(30);
    let changes =
        ProfileChanges { name: Some(UserName::parse("Ada King").unwrap()), email: Some(email("Countess@Example.com")) };

    let updated = stores.users.update_profile(user.id, changes, later).await.unwrap();

    assert_eq!(updated.name.as_str(), "Ada King");
    assert_eq!(updated.email.as_str(), "countess@example.com");
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, user.created_at);
    assert_eq!((updated.id, &updated.role, updated.is_active), (user.id, &user.role, user.is_active));
    assert_eq!(stores.users.find_by_id(user.id).await.unwrap(), Some(updated.clone()), "the change is stored");
    let by_new_email = stores.users.find_credentials_by_email(&email("countess@example.com")).await.unwrap();
    assert_eq!(by_new_email.map(|c| c.user.id), Some(user.id));
    let by_old_email = stores.users.find_credentials_by_email(&email("ada@example.com")).await.unwrap();
    assert!(by_old_email.is_none(), "the old email no longer finds the user");
}

pub async fn updating_only_the_name_keeps_the_email(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let changes = ProfileChanges { name: Some(UserName::parse("Ada King").unwrap()), email: None };

    let updated = stores.users.update_profile(user.id, changes, now()).await.unwrap();

    assert_eq!(updated.name.as_str(), "Ada King");
    assert_eq!(updated.email, user.email);
}

pub async fn updating_a_profile_with_no_changes_still_bumps_updated_at(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let later = user.updated_at + Duration::seconds(30);

    let updated = stores.users.update_profile(user.id, ProfileChanges::default(), later).await.unwrap();

    assert_eq!(updated.updated_at, later);
    assert_eq!((&updated.name, &updated.email), (&user.name, &user.email));
    assert_eq!(stores.users.find_by_id(user.id).await.unwrap(), Some(updated));
}

pub async fn updating_a_profile_to_another_users_email_in_any_case_returns_email_taken(stores: Stores) {
    create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;

    for typed in ["ada@example.com", "ADA@Example.com"] {
        let changes = ProfileChanges { name: Some(UserName::parse("Renamed").unwrap()), email: Some(email(typed)) };
        let err = stores.users.update_profile(grace.id, changes, now()).await.unwrap_err();
        assert_eq!(err, StoreError::EmailTaken, "changed to {typed:?}");
    }
    assert_eq!(stores.users.find_by_id(grace.id).await.unwrap(), Some(grace), "nothing of a refused update is stored");
}

pub async fn updating_a_profile_to_ones_own_email_is_allowed(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let changes = ProfileChanges { name: None, email: Some(email("ADA@example.com")) };

    let updated = stores.users.update_profile(user.id, changes, now()).await.unwrap();

    assert_eq!(updated.email, user.email);
}

pub async fn updating_an_unknown_user_returns_not_found(stores: Stores) {
    let changes = ProfileChanges { name: Some(UserName::parse("Nobody").unwrap()), email: None };

    let err = stores.users.update_profile(UserId(Uuid::now_v7()), changes, now()).await.unwrap_err();

    assert_eq!(err, StoreError::NotFound);
}

pub async fn changing_the_password_stores_the_new_hash(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (keep, _) = start_session(&stores, user.id).await;
    let hash = PasswordHash::new("$2b$04$a-brand-new-hash");

    stores.users.change_password(user.id, hash.clone(), keep, now()).await.unwrap();

    let by_id = stores.users.find_credentials_by_id(user.id).await.unwrap().unwrap();
    let by_email = stores.users.find_credentials_by_email(&user.email).await.unwrap().unwrap();
    assert_eq!(by_id.password_hash, hash);
    assert_eq!(by_email.password_hash, hash);
}

pub async fn changing_the_password_of_an_unknown_user_returns_not_found(stores: Stores) {
    let hash = PasswordHash::new("$2b$04$a-brand-new-hash");

    let err =
        stores.users.change_password(UserId(Uuid::now_v7()), hash, SessionId(Uuid::now_v7()), now()).await.unwrap_err();

    assert_eq!(err, StoreError::NotFound);
}

pub async fn deleting_an_unknown_user_returns_not_found(stores: Stores) {
    assert_eq!(stores.users.delete(UserId(Uuid::now_v7())).await.unwrap_err(), StoreError::NotFound);
}

pub async fn deleting_a_user_removes_it_and_frees_its_email(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;

    stores.users.delete(user.id).await.unwrap();

    assert_eq!(stores.users.find_by_id(user.id).await.unwrap(), None);
    assert!(stores.users.find_credentials_by_id(user.id).await.unwrap().is_none());
    assert!(stores.users.find_credentials_by_email(&user.email).await.unwrap().is_none());
    assert_eq!(stores.users.delete(user.id).await.unwrap_err(), StoreError::NotFound, "a second delete finds nothing");
    stores.users.create(new_user("ada@example.com")).await.expect("the email is free again");
}

pub async fn deleting_a_user_ends_its_sessions_and_forgets_its_refresh_tokens(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, token) = start_session(&stores, user.id).await;
    let t = now();

    stores.users.delete(user.id).await.unwrap();

    assert!(stores.users.load_principal(user.id, session, t).await.unwrap().is_none());
    let outcome = stores.sessions.rotate(&token, new_refresh_token(t + Duration::days(7)), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Unknown);
    assert!(stores.sessions.list_active(user.id, t).await.unwrap().is_empty());
}

pub async fn deleting_a_user_leaves_other_users_and_their_sessions_alone(stores: Stores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    start_session(&stores, ada.id).await;
    let (session, token) = start_session(&stores, grace.id).await;
    let t = now();

    stores.users.delete(ada.id).await.unwrap();

    assert_eq!(stores.users.find_by_id(grace.id).await.unwrap(), Some(grace.clone()));
    assert!(stores.users.load_principal(grace.id, session, t).await.unwrap().is_some());
    let outcome = stores.sessions.rotate(&token, new_refresh_token(t + Duration::days(7)), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated { user_id: grace.id, session_id: session });
}
