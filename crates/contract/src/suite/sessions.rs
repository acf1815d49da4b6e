//! Contract of `SessionRepository`'s session life cycle: starting, listing and ending
//! sessions.

use super::support::{
    GRACE, REFRESH_TTL, create_user, new_refresh_token, new_session, now, start_session, start_session_at,
};
use crate::Stores;
use chrono::Duration;
use storefront_app::ports::{RefreshTokenHash, RotateOutcome};
use storefront_domain::{RefreshDecision, SessionId, UserId};
use uuid::Uuid;

pub async fn a_started_session_is_listed_with_its_client_details(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let new = new_session(user.id, now());
    stores.sessions.start(new.clone()).await.unwrap();

    let listed = stores.sessions.list_active(user.id, now()).await.unwrap();

    assert_eq!(listed.len(), 1);
    let session = &listed[0];
    assert_eq!(session.id, new.id);
    assert_eq!(session.user_id, user.id);
    assert_eq!(session.created_at, new.created_at);
    assert_eq!(session.last_used_at, new.created_at, "a new session was last used when it started");
    assert_eq!(session.user_agent, new.user_agent);
    assert_eq!(session.ip, new.ip);
}

pub async fn ending_a_session_by_its_refresh_token_ends_the_family(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, token) = start_session(&stores, user.id).await;
    let (other, _) = start_session(&stores, user.id).await;
    let t = now();

    stores.sessions.end_by_refresh_token(&token, t).await.unwrap();

    assert!(stores.users.load_principal(user.id, session, t).await.unwrap().is_none());
    let outcome = stores.sessions.rotate(&token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject));
    let listed: Vec<SessionId> =
        stores.sessions.list_active(user.id, t).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, vec![other], "only that token's session ends");
}

pub async fn ending_a_session_by_a_spent_refresh_token_ends_the_family(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, first) = start_session(&stores, user.id).await;
    let t = now();
    let second = new_refresh_token(t + REFRESH_TTL);
    stores.sessions.rotate(&first, second.clone(), t, GRACE).await.unwrap();

    stores.sessions.end_by_refresh_token(&first, t).await.unwrap();

    let outcome = stores.sessions.rotate(&second.hash, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject), "the newest token dies with its family");
    assert!(stores.users.load_principal(user.id, session, t).await.unwrap().is_none());
}

pub async fn ending_a_session_by_an_unknown_refresh_token_is_ok(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;
    let unknown = RefreshTokenHash(format!("never-issued-{}", Uuid::new_v4()));

    stores.sessions.end_by_refresh_token(&unknown, now()).await.unwrap();

    assert!(stores.users.load_principal(user.id, session, now()).await.unwrap().is_some(), "nothing else ended");
}

pub async fn ending_ones_own_session_revokes_it_and_returns_true(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, token) = start_session(&stores, user.id).await;
    let (other, _) = start_session(&stores, user.id).await;
    let t = now();

    assert!(stores.sessions.end(user.id, session, t).await.unwrap());

    assert!(stores.users.load_principal(user.id, session, t).await.unwrap().is_none());
    let outcome = stores.sessions.rotate(&token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject));
    let listed: Vec<SessionId> =
        stores.sessions.list_active(user.id, t).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, vec![other]);
}

pub async fn ending_another_users_session_returns_false_and_leaves_it_active(stores: Stores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    start_session(&stores, ada.id).await;
    let (graces, token) = start_session(&stores, grace.id).await;
    let t = now();

    assert!(!stores.sessions.end(ada.id, graces, t).await.unwrap());

    assert!(stores.users.load_principal(grace.id, graces, t).await.unwrap().is_some());
    let outcome = stores.sessions.rotate(&token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated { user_id: grace.id, session_id: graces });
}

pub async fn ending_an_unknown_or_already_ended_session_returns_false(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;
    let t = now();

    assert!(!stores.sessions.end(user.id, SessionId(Uuid::now_v7()), t).await.unwrap());
    assert!(!stores.sessions.end(UserId(Uuid::now_v7()), session, t).await.unwrap());
    assert!(stores.sessions.end(user.id, session, t).await.unwrap());
    assert!(!stores.sessions.end(user.id, session, t).await.unwrap(), "already ended");
}

/// "No such active session": a session past its expiry is not active (as in `list_active`).
pub async fn ending_an_expired_session_returns_false(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, _) = start_session(&stores, user.id).await;
    let after_expiry = now() + REFRESH_TTL + Duration::hours(1);

    assert!(!stores.sessions.end(user.id, session, after_expiry).await.unwrap());
}

pub async fn ending_all_sessions_revokes_every_session_of_the_user_only(stores: Stores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let adas = [
        start_session(&stores, ada.id).await,
        start_session(&stores, ada.id).await,
        start_session(&stores, ada.id).await,
    ];
    let (graces, graces_token) = start_session(&stores, grace.id).await;
    let t = now();

    stores.sessions.end_all(ada.id, t).await.unwrap();

    assert!(stores.sessions.list_active(ada.id, t).await.unwrap().is_empty());
    for (session, token) in adas {
        assert!(stores.users.load_principal(ada.id, session, t).await.unwrap().is_none());
        let outcome = stores.sessions.rotate(&token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject));
    }
    assert!(stores.users.load_principal(grace.id, graces, t).await.unwrap().is_some(), "other users keep theirs");
    let outcome = stores.sessions.rotate(&graces_token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated { user_id: grace.id, session_id: graces });
    stores.sessions.end_all(UserId(Uuid::now_v7()), t).await.expect("ending nothing is fine");
}

pub async fn active_sessions_are_listed_newest_first(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let t0 = now() - Duration::hours(1);
    // Started out of order; two share a creation time, so the id (time-ordered) decides.
    let (middle, _) = start_session_at(&stores, user.id, t0 + Duration::minutes(10)).await;
    let (oldest, _) = start_session_at(&stores, user.id, t0).await;
    let (newest_low_id, _) = start_session_at(&stores, user.id, t0 + Duration::minutes(20)).await;
    let (newest_high_id, _) = start_session_at(&stores, user.id, t0 + Duration::minutes(20)).await;
    assert!(newest_high_id > newest_low_id, "UUIDv7 ids grow");

    let listed: Vec<SessionId> =
        stores.sessions.list_active(user.id, now()).await.unwrap().into_iter().map(|s| s.id).collect();

    assert_eq!(listed, vec![newest_high_id, newest_low_id, middle, oldest]);
}

pub async fn listing_active_sessions_leaves_out_ended_expired_and_other_users_sessions(stores: Stores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let t = now();
    let (active, _) = start_session_at(&stores, ada.id, t).await;
    let (ended, _) = start_session_at(&stores, ada.id, t).await;
    let (_, spent_after_grace) = start_session_at(&stores, ada.id, t).await;
    start_session_at(&stores, grace.id, t).await;
    // Started long ago: its only token has expired by now.
    let (_, _) = start_session_at(&stores, ada.id, t - REFRESH_TTL - Duration::hours(1)).await;

    assert!(stores.sessions.end(ada.id, ended, t).await.unwrap());
    stores.sessions.rotate(&spent_after_grace, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    let replayed_at = t + GRACE + Duration::seconds(1);
    let outcome = stores
        .sessions
        .rotate(&spent_after_grace, new_refresh_token(t + REFRESH_TTL), replayed_at, GRACE)
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::RevokeFamily));

    let listed: Vec<SessionId> =
        stores.sessions.list_active(ada.id, replayed_at).await.unwrap().into_iter().map(|s| s.id).collect();

    assert_eq!(listed, vec![active]);
}

pub async fn ending_the_oldest_sessions_beyond_a_limit_keeps_the_newest(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let other = create_user(&stores, "bob@example.com").await;
    let t = now();
    let mut started = Vec::new();
    for minutes_ago in [40, 30, 20, 10] {
        started.push(start_session_at(&stores, user.id, t - Duration::minutes(minutes_ago)).await.0);
    }
    // An ended session does not count, nor do another user's.
    assert!(stores.sessions.end(user.id, started[1], t).await.unwrap());
    let (bobs, _) = start_session_at(&stores, other.id, t - Duration::minutes(50)).await;

    let ended = stores.sessions.end_oldest_beyond(user.id, 2, t).await.unwrap();

    assert_eq!(ended, 1, "of the three active sessions, the oldest goes");
    let active: Vec<SessionId> = stores.sessions.list_active(user.id, t).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(active, vec![started[3], started[2]]);
    assert!(stores.users.load_principal(user.id, started[0], t).await.unwrap().is_none());
    assert_eq!(stores.sessions.list_active(other.id, t).await.unwrap()[0].id, bobs);
    assert_eq!(stores.sessions.end_oldest_beyond(user.id, 2, t).await.unwrap(), 0, "nothing beyond the limit");
}

pub async fn purging_deletes_expired_and_ended_sessions_and_expired_tokens_only(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let t = now();
    let (_, live) = start_session_at(&stores, user.id, t).await;
    let (ended, ended_token) = start_session_at(&stores, user.id, t - Duration::hours(2)).await;
    assert!(stores.sessions.end(user.id, ended, t - Duration::hours(1)).await.unwrap());
    // A session whose only token expired an hour ago.
    let (_, expired_token) = start_session_at(&stores, user.id, t - REFRESH_TTL - Duration::hours(1)).await;
    // Ended after the cut-off: kept for now.
    let (recent, recent_token) = start_session_at(&stores, user.id, t).await;
    assert!(stores.sessions.end(user.id, recent, t + Duration::seconds(1)).await.unwrap());

    let deleted = stores.sessions.purge_ended(t).await.unwrap();

    assert_eq!(deleted, 4, "two sessions and their two tokens");
    let rotate = async |token: &RefreshTokenHash| {
        stores.sessions.rotate(token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap()
    };
    assert_eq!(rotate(&ended_token).await, RotateOutcome::Unknown);
    assert_eq!(rotate(&expired_token).await, RotateOutcome::Unknown);
    assert_eq!(rotate(&recent_token).await, RotateOutcome::Refused(RefreshDecision::Reject));
    assert!(matches!(rotate(&live).await, RotateOutcome::Rotated { .. }));
}
