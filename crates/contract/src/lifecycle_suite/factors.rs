//! `SecondFactorRepository`: a pending secret enabled once by a fresh step, each time step
//! accepted once, recovery codes used once, and turning the factor off.

use super::support::create_user;
use crate::LifecycleStores;
use crate::suite::support::{new_session, now};
use futures::future::join_all;
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, AuditFilter, PageRequest, RefreshTokenHash, TotpState};
use storefront_domain::{AuditAction, UserId};
use uuid::Uuid;

fn codes() -> Vec<RefreshTokenHash> {
    (0..3).map(|i| RefreshTokenHash(format!("recovery-{i}"))).collect()
}

async fn enabled(stores: &LifecycleStores, user: UserId, step: i64) {
    assert!(stores.factors.begin_totp(user, "SECRET", now()).await.unwrap());
    let ctx = AuditContext { actor: user, now: now() };
    assert!(stores.factors.enable_totp(user, "SECRET", step, codes(), ctx).await.unwrap());
}

pub async fn a_pending_secret_is_enabled_by_a_fresh_step_and_audited(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    assert_eq!(stores.factors.totp_state(user.id).await.unwrap(), Some(TotpState::default()));
    assert_eq!(stores.factors.totp_state(UserId(Uuid::now_v7())).await.unwrap(), None);
    assert_eq!(stores.factors.begin_totp(UserId(Uuid::now_v7()), "S", now()).await, Err(StoreError::NotFound));
    assert!(stores.factors.begin_totp(user.id, "FIRST", now()).await.unwrap());
    assert!(stores.factors.begin_totp(user.id, "SECRET", now()).await.unwrap(), "a new enrolment replaces it");
    let ctx = AuditContext { actor: user.id, now: now() };
    assert!(!stores.factors.enable_totp(user.id, "FIRST", 10, codes(), ctx).await.unwrap(), "not the pending one");
    assert!(stores.factors.enable_totp(user.id, "SECRET", 10, codes(), ctx).await.unwrap());
    assert!(!stores.factors.enable_totp(user.id, "SECRET", 11, codes(), ctx).await.unwrap(), "already on");
    assert!(!stores.factors.begin_totp(user.id, "OTHER", now()).await.unwrap(), "on: no new enrolment");
    let state = stores.factors.totp_state(user.id).await.unwrap().unwrap();
    assert_eq!(state, TotpState { secret: Some("SECRET".into()), enabled: true, last_step: Some(10) });
    assert!(stores.users.find_by_id(user.id).await.unwrap().unwrap().mfa_enabled);
    let filter = AuditFilter { action: Some(AuditAction::UserMfaEnabled), actor_id: Some(user.id) };
    assert_eq!(stores.audit.list(&filter, PageRequest { limit: 10, offset: 0 }).await.unwrap().items.len(), 1);
}

pub async fn each_time_step_is_accepted_once_and_never_an_older_one(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    assert!(!stores.factors.accept_totp_step(user.id, 5).await.unwrap(), "not enabled");
    enabled(&stores, user.id, 10).await;
    assert!(!stores.factors.accept_totp_step(user.id, 10).await.unwrap());
    assert!(!stores.factors.accept_totp_step(user.id, 9).await.unwrap());
    assert!(stores.factors.accept_totp_step(user.id, 11).await.unwrap());
    let tries = (0..8).map(|_| {
        let factors = stores.factors.clone();
        let id = user.id;
        tokio::spawn(async move { factors.accept_totp_step(id, 12).await.unwrap() })
    });
    let accepted = join_all(tries).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(accepted, 1, "concurrent uses of one code: one wins");
}

pub async fn a_recovery_code_is_used_once(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    let other = create_user(&stores, "grace@example.com").await;
    enabled(&stores, user.id, 1).await;
    let code = RefreshTokenHash("recovery-1".into());
    assert!(!stores.factors.use_recovery_code(other.id, &code, now()).await.unwrap(), "another user's");
    assert!(stores.factors.use_recovery_code(user.id, &code, now()).await.unwrap());
    assert!(!stores.factors.use_recovery_code(user.id, &code, now()).await.unwrap());
    assert!(!stores.factors.use_recovery_code(user.id, &RefreshTokenHash("nope".into()), now()).await.unwrap());
}

pub async fn turning_the_factor_off_clears_it_ends_the_other_sessions_and_audits(stores: LifecycleStores) {
    let user = create_user(&stores, "ada@example.com").await;
    enabled(&stores, user.id, 1).await;
    let (kept, ended) = (new_session(user.id, now()), new_session(user.id, now()));
    let (kept_id, ended_id) = (kept.id, ended.id);
    stores.sessions.start(kept).await.unwrap();
    stores.sessions.start(ended).await.unwrap();
    let ctx = AuditContext { actor: user.id, now: now() };
    stores.factors.disable_mfa(user.id, Some(kept_id), AuditAction::UserMfaDisabled, ctx).await.unwrap();
    assert_eq!(stores.factors.totp_state(user.id).await.unwrap(), Some(TotpState::default()));
    assert!(!stores.users.find_by_id(user.id).await.unwrap().unwrap().mfa_enabled);
    assert!(!stores.factors.use_recovery_code(user.id, &RefreshTokenHash("recovery-0".into()), now()).await.unwrap());
    assert!(stores.users.load_principal(user.id, kept_id, now()).await.unwrap().is_some());
    assert!(stores.users.load_principal(user.id, ended_id, now()).await.unwrap().is_none());
    let filter = AuditFilter { action: Some(AuditAction::UserMfaDisabled), actor_id: Some(user.id) };
    assert_eq!(stores.audit.list(&filter, PageRequest { limit: 10, offset: 0 }).await.unwrap().items.len(), 1);
    let ghost = UserId(Uuid::now_v7());
    let reset = stores.factors.disable_mfa(ghost, None, AuditAction::UserMfaReset, ctx).await;
    assert_eq!(reset, Err(StoreError::NotFound));
}
