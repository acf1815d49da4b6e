//! `LinkTokenRepository`: tokens stored by hash, single use, expiring, of one purpose; the
//! verification, reset and email change each one transaction.

use super::support::create_user;
use crate::LifecycleStores;
use crate::suite::support::{email, new_session, now};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use storefront_app::StoreError;
use storefront_app::ports::{
    AuditFilter, EmailChangeOutcome, LinkPurpose, NewLinkToken, PageRequest, RefreshTokenHash,
};
use storefront_domain::{AuditAction, DomainEvent, Email, EventType, PasswordHash, User};
use uuid::Uuid;

fn hash() -> RefreshTokenHash {
    RefreshTokenHash(format!("test-link-{}", Uuid::new_v4()))
}

async fn link(
    stores: &LifecycleStores,
    user: &User,
    purpose: LinkPurpose,
    to: &Email,
    at: DateTime<Utc>,
) -> RefreshTokenHash {
    let hash = hash();
    let new = NewLinkToken {
        hash: hash.clone(),
        purpose,
        user_id: user.id,
        email: to.clone(),
        created_at: at,
        expires_at: at + Duration::minutes(30),
    };
    stores.links.create_link(new).await.unwrap();
    hash
}

pub async fn a_link_is_found_by_hash_and_purpose_until_it_is_spent_once(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let h = link(&stores, &user, LinkPurpose::MfaLogin, &user.email, at).await;
    let found = stores.links.find_link(&h, LinkPurpose::MfaLogin, at).await.unwrap().unwrap();
    assert_eq!((found.user_id, found.purpose, found.email), (user.id, LinkPurpose::MfaLogin, user.email.clone()));
    assert_eq!(stores.links.find_link(&h, LinkPurpose::ResetPassword, at).await.unwrap(), None, "another purpose");
    assert_eq!(stores.links.spend_link(&h, LinkPurpose::VerifyEmail, at).await.unwrap(), None, "another purpose");
    assert!(stores.links.spend_link(&h, LinkPurpose::MfaLogin, at).await.unwrap().is_some());
    assert_eq!(stores.links.spend_link(&h, LinkPurpose::MfaLogin, at).await.unwrap(), None, "single use");
    assert_eq!(stores.links.find_link(&h, LinkPurpose::MfaLogin, at).await.unwrap(), None);
    assert_eq!(stores.links.find_link(&hash(), LinkPurpose::MfaLogin, at).await.unwrap(), None, "unknown");
}

pub async fn an_expired_link_is_neither_found_nor_spent(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let h = link(&stores, &user, LinkPurpose::VerifyEmail, &user.email, at).await;
    let later = at + Duration::minutes(30);
    assert_eq!(stores.links.find_link(&h, LinkPurpose::VerifyEmail, later).await.unwrap(), None);
    assert_eq!(stores.links.spend_link(&h, LinkPurpose::VerifyEmail, later).await.unwrap(), None);
    assert_eq!(stores.links.verify_email(&h, later).await.unwrap(), None);
}

pub async fn a_link_for_an_unknown_user_is_refused(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let ghost = User { id: storefront_domain::UserId(Uuid::now_v7()), ..user };
    let new = NewLinkToken {
        hash: hash(),
        purpose: LinkPurpose::VerifyEmail,
        user_id: ghost.id,
        email: ghost.email.clone(),
        created_at: now(),
        expires_at: now() + Duration::hours(1),
    };
    assert_eq!(stores.links.create_link(new).await, Err(StoreError::NotFound));
}

pub async fn concurrent_spends_of_one_link_give_it_to_one_caller(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let h = link(&stores, &user, LinkPurpose::MfaLogin, &user.email, at).await;
    let spends = (0..8).map(|_| {
        let links = stores.links.clone();
        let h = h.clone();
        tokio::spawn(async move { links.spend_link(&h, LinkPurpose::MfaLogin, at).await.unwrap() })
    });
    let won = join_all(spends).await.into_iter().filter(|r| r.as_ref().unwrap().is_some()).count();
    assert_eq!(won, 1);
}

pub async fn verifying_marks_the_address_the_link_was_sent_to(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let stale = link(&stores, &user, LinkPurpose::VerifyEmail, &email("old@example.com"), at).await;
    assert_eq!(stores.links.verify_email(&stale, at).await.unwrap(), None, "a link to another address proves nothing");
    assert!(!stores.users.find_by_id(user.id).await.unwrap().unwrap().email_verified);
    let h = link(&stores, &user, LinkPurpose::VerifyEmail, &user.email, at).await;
    let verified = stores.links.verify_email(&h, at).await.unwrap().unwrap();
    assert!(verified.email_verified);
    assert!(stores.users.find_by_id(user.id).await.unwrap().unwrap().email_verified);
    assert_eq!(stores.links.verify_email(&h, at).await.unwrap(), None, "single use");
}

pub async fn a_reset_sets_the_password_verifies_ends_sessions_audits_and_raises_its_event(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let other = create_user(&stores, "grace@example.com").await;
    let at = now();
    let session = new_session(user.id, at);
    let sid = session.id;
    stores.sessions.start(session).await.unwrap();
    let h = link(&stores, &user, LinkPurpose::ResetPassword, &user.email, at).await;
    let sibling = link(&stores, &user, LinkPurpose::ResetPassword, &user.email, at).await;
    let new_hash = PasswordHash::new("$2b$04$the-new-hash");

    assert!(!stores.links.reset_password(&h, other.id, new_hash.clone(), at).await.unwrap(), "another user's link");
    assert!(stores.links.reset_password(&h, user.id, new_hash.clone(), at).await.unwrap());
    let credentials = stores.users.find_credentials_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(credentials.password_hash.as_str(), new_hash.as_str());
    assert!(credentials.user.email_verified);
    assert!(stores.users.load_principal(user.id, sid, at).await.unwrap().is_none(), "every session ended");
    assert!(!stores.links.reset_password(&h, user.id, new_hash.clone(), at).await.unwrap(), "single use");
    assert!(!stores.links.reset_password(&sibling, user.id, new_hash, at).await.unwrap(), "the others die with it");

    let filter = AuditFilter { action: Some(AuditAction::UserPasswordReset), actor_id: Some(user.id) };
    let audit = stores.audit.list(&filter, PageRequest { limit: 10, offset: 0 }).await.unwrap();
    assert_eq!(audit.items.len(), 1);
    let events = stores.outbox.events(PageRequest { limit: 100, offset: 0 }).await.unwrap().items;
    let resets: Vec<_> = events.iter().filter(|e| e.event_type == EventType::PasswordReset).collect();
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].payload["user_id"], user.id.to_string());
}

pub async fn an_email_change_moves_the_user_to_the_verified_new_address_once(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let h = link(&stores, &user, LinkPurpose::ChangeEmail, &email("ada.king@example.com"), at).await;
    let EmailChangeOutcome::Changed(changed) = stores.links.confirm_email_change(&h, at).await.unwrap() else {
        panic!("the change should be made");
    };
    assert_eq!((changed.email.as_str(), changed.email_verified), ("ada.king@example.com", true));
    assert_eq!(stores.links.confirm_email_change(&h, at).await.unwrap(), EmailChangeOutcome::InvalidLink);
    let filter = AuditFilter { action: Some(AuditAction::UserEmailChanged), actor_id: Some(user.id) };
    let audit = stores.audit.list(&filter, PageRequest { limit: 10, offset: 0 }).await.unwrap();
    assert_eq!(audit.items[0].details["from"], "ada@example.com");
}

pub async fn an_email_change_to_an_address_taken_meanwhile_changes_and_spends_nothing(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let h = link(&stores, &user, LinkPurpose::ChangeEmail, &email("grace@example.com"), at).await;
    create_user(&stores, "Grace@Example.com").await;
    assert_eq!(stores.links.confirm_email_change(&h, at).await, Err(StoreError::EmailTaken));
    assert_eq!(stores.users.find_by_id(user.id).await.unwrap().unwrap().email.as_str(), "ada@example.com");
    assert!(stores.links.find_link(&h, LinkPurpose::ChangeEmail, at).await.unwrap().is_some(), "not spent");
}

pub async fn raised_events_go_to_the_outbox_in_order(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let events = vec![
        DomainEvent::verification_requested(&user, at),
        DomainEvent::password_reset_requested(&email("nobody@example.com"), at),
    ];
    stores.links.raise(events).await.unwrap();
    let types: Vec<EventType> = stores
        .outbox
        .events(PageRequest { limit: 10, offset: 0 })
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        types,
        vec![EventType::UserRegistered, EventType::VerificationRequested, EventType::PasswordResetRequested]
    );
}

pub async fn purging_deletes_links_expired_or_spent_before_the_cutoff(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let at = now();
    let live = link(&stores, &user, LinkPurpose::VerifyEmail, &user.email, at).await;
    let spent = link(&stores, &user, LinkPurpose::MfaLogin, &user.email, at).await;
    stores.links.spend_link(&spent, LinkPurpose::MfaLogin, at).await.unwrap();
    let old = link(&stores, &user, LinkPurpose::ResetPassword, &user.email, at - Duration::hours(2)).await;
    assert_eq!(stores.links.purge_links(at + Duration::seconds(1)).await.unwrap(), 2);
    assert!(stores.links.find_link(&live, LinkPurpose::VerifyEmail, at).await.unwrap().is_some());
    assert_eq!(stores.links.find_link(&old, LinkPurpose::ResetPassword, at - Duration::hours(2)).await.unwrap(), None);
    assert_eq!(stores.links.purge_links(at + Duration::seconds(1)).await.unwrap(), 0);
}
