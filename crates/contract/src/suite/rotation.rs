//! Contract of `SessionRepository::rotate`: single use, reuse detection with a grace
//! period, expiry, and exactly one winner among concurrent rotations.

use super::support::{GRACE, REFRESH_TTL, create_user, new_refresh_token, new_session, now, start_session};
use crate::Stores;
use chrono::Duration;
use std::sync::Arc;
use storefront_app::ports::{RefreshTokenHash, RotateOutcome};
use storefront_domain::RefreshDecision;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

pub async fn rotating_a_fresh_token_rotates_it_and_the_replacement_works(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, first) = start_session(&stores, user.id).await;
    let t = now();
    let second = new_refresh_token(t + REFRESH_TTL);

    let outcome = stores.sessions.rotate(&first, second.clone(), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated { user_id: user.id, session_id: session });

    let later = t + Duration::minutes(10);
    let outcome =
        stores.sessions.rotate(&second.hash, new_refresh_token(later + REFRESH_TTL), later, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated { user_id: user.id, session_id: session }, "same family");
    assert!(stores.users.load_principal(user.id, session, later).await.unwrap().is_some());
}

pub async fn rotating_touches_the_sessions_last_used_at(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, first) = start_session(&stores, user.id).await;
    let used_at = now() + Duration::minutes(10);

    stores.sessions.rotate(&first, new_refresh_token(used_at + REFRESH_TTL), used_at, GRACE).await.unwrap();

    let listed = stores.sessions.list_active(user.id, used_at).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, session);
    assert_eq!(listed[0].last_used_at, used_at);
}

pub async fn rotating_a_spent_token_within_the_grace_period_is_refused_without_revoking_anything(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, first) = start_session(&stores, user.id).await;
    let t = now();
    let second = new_refresh_token(t + REFRESH_TTL);
    stores.sessions.rotate(&first, second.clone(), t, GRACE).await.unwrap();

    // Another tab presents the same token a moment later, and once more at the very edge.
    for presented_at in [t + Duration::seconds(1), t + GRACE] {
        let outcome = stores
            .sessions
            .rotate(&first, new_refresh_token(presented_at + REFRESH_TTL), presented_at, GRACE)
            .await
            .unwrap();
        assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::RejectWithinGrace));
    }

    let later = t + Duration::seconds(2);
    assert!(stores.users.load_principal(user.id, session, later).await.unwrap().is_some(), "the session goes on");
    let outcome =
        stores.sessions.rotate(&second.hash, new_refresh_token(later + REFRESH_TTL), later, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated { user_id: user.id, session_id: session }, "the family stays usable");
}

pub async fn rotating_a_spent_token_after_the_grace_period_revokes_the_family(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (session, first) = start_session(&stores, user.id).await;
    let t = now();
    let second = new_refresh_token(t + REFRESH_TTL);
    stores.sessions.rotate(&first, second.clone(), t, GRACE).await.unwrap();

    let replayed_at = t + GRACE + Duration::seconds(1);
    let outcome =
        stores.sessions.rotate(&first, new_refresh_token(replayed_at + REFRESH_TTL), replayed_at, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::RevokeFamily));

    let outcome = stores
        .sessions
        .rotate(&second.hash, new_refresh_token(replayed_at + REFRESH_TTL), replayed_at, GRACE)
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject), "the newest token of the family is dead too");
    assert!(stores.users.load_principal(user.id, session, replayed_at).await.unwrap().is_none());
    assert!(stores.sessions.list_active(user.id, replayed_at).await.unwrap().is_empty());
}

pub async fn rotating_an_expired_token_is_refused(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let session = new_session(user.id, now());
    let (token, expires_at) = (session.refresh.hash.clone(), session.refresh.expires_at);
    stores.sessions.start(session).await.unwrap();

    for presented_at in [expires_at, expires_at + Duration::days(1)] {
        let outcome = stores
            .sessions
            .rotate(&token, new_refresh_token(presented_at + REFRESH_TTL), presented_at, GRACE)
            .await
            .unwrap();
        assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject));
    }
}

pub async fn rotating_an_unknown_token_returns_unknown(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    start_session(&stores, user.id).await;
    let t = now();
    let unknown = RefreshTokenHash(format!("never-issued-{}", Uuid::new_v4()));

    let outcome = stores.sessions.rotate(&unknown, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();

    assert_eq!(outcome, RotateOutcome::Unknown);
}

pub async fn concurrent_rotations_of_one_token_rotate_it_exactly_once(stores: Stores) {
    const TASKS: usize = 8;
    let user = create_user(&stores, "ada@example.com").await;
    let (session, first) = start_session(&stores, user.id).await;
    let t = now();
    // Each task brings its own replacement; only the winner's may join the family.
    let replacements: Vec<_> = (0..TASKS).map(|_| new_refresh_token(t + REFRESH_TTL)).collect();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for replacement in replacements.clone() {
        let (sessions, barrier, first) = (Arc::clone(&stores.sessions), Arc::clone(&barrier), first.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let hash = replacement.hash.clone();
            (hash, sessions.rotate(&first, replacement, t, GRACE).await.unwrap())
        });
    }
    let outcomes = tasks.join_all().await;

    let winners: Vec<&RefreshTokenHash> = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, RotateOutcome::Rotated { .. }))
        .map(|(hash, _)| hash)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins: {outcomes:?}");
    for (_, outcome) in &outcomes {
        assert!(
            matches!(outcome, RotateOutcome::Rotated { user_id, session_id } if (*user_id, *session_id) == (user.id, session))
                || *outcome == RotateOutcome::Refused(RefreshDecision::RejectWithinGrace),
            "the losers raced within the grace period: {outcome:?}"
        );
    }
    let later = t + Duration::seconds(1);
    for replacement in &replacements {
        let outcome = stores
            .sessions
            .rotate(&replacement.hash, new_refresh_token(later + REFRESH_TTL), later, GRACE)
            .await
            .unwrap();
        if replacement.hash == *winners[0] {
            assert!(matches!(outcome, RotateOutcome::Rotated { .. }), "the winner's replacement works");
        } else {
            assert_eq!(outcome, RotateOutcome::Unknown, "a loser's replacement was never stored");
        }
    }
}

pub async fn rotating_a_token_of_an_ended_session_is_refused(stores: Stores) {
    let user = create_user(&stores, "ada@example.com").await;
    let (_, token) = start_session(&stores, user.id).await;
    let t = now();

    stores.sessions.end_by_refresh_token(&token, t).await.unwrap();

    let outcome = stores.sessions.rotate(&token, new_refresh_token(t + REFRESH_TTL), t, GRACE).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Refused(RefreshDecision::Reject));
    assert!(stores.sessions.list_active(user.id, t).await.unwrap().is_empty());
}
