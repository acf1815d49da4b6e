//! Contract of events leaving the outbox: leases (oldest first, never to two relays at
//! once, due again when a lease runs out), publication (owed until handled: due again at the
//! redelivery time, or at once when the stream lost its data), handling, failures with a
//! retry time or for good (dead letters, and putting one back), the backlog and its oldest
//! event, the purge of handled events, the record of handled events, and who is told of low
//! stock.

use super::support::{create_user, now, outbox};
use crate::EventStores;
use crate::suite::support::new_user;
use chrono::Duration;
use std::collections::HashSet;
use storefront_app::ports::{AuditContext, Claim, NewUser, OutboxBacklog};
use storefront_domain::{AdminUserChange, EventId, Permission, RoleName};

const LEASE: Duration = Duration::seconds(30);
const REDELIVER: Duration = Duration::minutes(5);

/// `n` accounts, hence `n` events, oldest first.
async fn events(stores: &EventStores, n: usize) -> Vec<EventId> {
    for i in 0..n {
        create_user(stores, &format!("user-{i}@example.com")).await;
    }
    outbox(stores).await.into_iter().map(|e| e.id).collect()
}

pub async fn due_events_are_leased_oldest_first_and_not_again_until_the_lease_runs_out(stores: EventStores) {
    let ids = events(&stores, 5).await;
    let at = now() + Duration::seconds(1);

    let first = stores.outbox.lease_due(3, at, LEASE).await.unwrap();
    let second = stores.outbox.lease_due(10, at, LEASE).await.unwrap();
    let third = stores.outbox.lease_due(10, at + Duration::seconds(5), LEASE).await.unwrap();

    assert_eq!(first.iter().map(|e| e.event.id).collect::<Vec<_>>(), ids[..3]);
    assert!(first.iter().all(|e| e.attempts == 0));
    assert_eq!(second.iter().map(|e| e.event.id).collect::<Vec<_>>(), ids[3..]);
    assert!(third.is_empty(), "every event is leased");
    let expired = stores.outbox.lease_due(10, at + LEASE + Duration::seconds(1), LEASE).await.unwrap();
    assert_eq!(expired.iter().map(|e| e.event.id).collect::<Vec<_>>(), ids, "a relay died: due again, in order");
}

pub async fn released_events_are_due_again_at_once(stores: EventStores) {
    let ids = events(&stores, 3).await;
    let at = now() + Duration::seconds(1);
    stores.outbox.lease_due(3, at, LEASE).await.unwrap();

    stores.outbox.release(&ids[1..], at).await.unwrap();

    let due = stores.outbox.lease_due(10, at, LEASE).await.unwrap();
    assert_eq!(due.iter().map(|e| e.event.id).collect::<Vec<_>>(), ids[1..], "only the released ones, in order");
    stores.outbox.mark_handled(&ids[..1], at).await.unwrap();
    stores.outbox.release(&ids[..1], at).await.unwrap();
    assert!(stores.outbox.lease_due(10, at + LEASE * 10, LEASE).await.unwrap().iter().all(|e| e.event.id != ids[0]));
}

pub async fn published_events_stay_owed_and_are_due_again_at_their_redelivery_time(stores: EventStores) {
    let ids = events(&stores, 4).await;
    let at = now() + Duration::seconds(1);
    stores.outbox.lease_due(10, at, LEASE).await.unwrap();

    stores.outbox.mark_published(&ids[..2], at, at + REDELIVER).await.unwrap();

    let backlog = stores.outbox.backlog().await.unwrap();
    assert_eq!(backlog.owed, 4, "published is not handled");
    let just_before = at + REDELIVER - Duration::seconds(1);
    let due = stores.outbox.lease_due(10, just_before, LEASE).await.unwrap();
    assert_eq!(
        due.iter().map(|e| e.event.id).collect::<Vec<_>>(),
        ids[2..],
        "only the unpublished ones' lease ran out"
    );
    let due = stores.outbox.lease_due(10, at + REDELIVER, LEASE).await.unwrap();
    assert_eq!(due.iter().map(|e| e.event.id).collect::<Vec<_>>(), ids[..2], "unhandled by now: published again");
}

pub async fn handled_events_are_never_leased_again_and_leave_the_backlog(stores: EventStores) {
    let ids = events(&stores, 4).await;
    let first_occurred = outbox(&stores).await[0].occurred_at;
    let backlog = stores.outbox.backlog().await.unwrap();
    assert_eq!((backlog.owed, backlog.oldest_owed_at), (4, Some(first_occurred)));
    let at = now() + Duration::seconds(1);
    stores.outbox.lease_due(10, at, LEASE).await.unwrap();
    stores.outbox.mark_published(&ids, at, at + REDELIVER).await.unwrap();

    stores.outbox.mark_handled(&ids[..2], at).await.unwrap();
    stores.outbox.mark_handled(&ids[..1], at + Duration::seconds(5)).await.unwrap();

    let third_occurred = outbox(&stores).await[2].occurred_at;
    let backlog = stores.outbox.backlog().await.unwrap();
    assert_eq!((backlog.owed, backlog.oldest_owed_at), (2, Some(third_occurred)));
    let later = at + REDELIVER * 10;
    let due = stores.outbox.lease_due(10, later, LEASE).await.unwrap();
    assert_eq!(due.iter().map(|e| e.event.id).collect::<Vec<_>>(), ids[2..]);
    assert_eq!(outbox(&stores).await.len(), 4, "handled events stay until purged");
    stores.outbox.mark_handled(&ids[2..], later).await.unwrap();
    assert_eq!(stores.outbox.backlog().await.unwrap(), OutboxBacklog { owed: 0, oldest_owed_at: None });
}

pub async fn when_the_stream_lost_its_data_every_published_unhandled_event_is_due_at_once(stores: EventStores) {
    let ids = events(&stores, 5).await;
    let at = now() + Duration::seconds(1);
    stores.outbox.lease_due(10, at, LEASE).await.unwrap();
    stores.outbox.mark_published(&ids[..4], at, at + REDELIVER).await.unwrap();
    stores.outbox.mark_handled(&ids[..1], at).await.unwrap();
    stores.outbox.mark_failed(ids[1], "dead", 5, None, at).await.unwrap();

    let later = at + Duration::seconds(2);
    assert_eq!(stores.outbox.redeliver_published(later).await.unwrap(), 2, "the handled and the dead one stay");

    let due = stores.outbox.lease_due(10, later, LEASE).await.unwrap();
    assert_eq!(due.iter().map(|e| e.event.id).collect::<Vec<_>>(), ids[2..4], "the unpublished one is still leased");
}

pub async fn concurrent_leases_never_hand_one_event_to_two_relays(stores: EventStores) {
    events(&stores, 40).await;
    let at = now() + Duration::seconds(1);
    let outbox = std::sync::Arc::clone(&stores.outbox);
    let relays: Vec<_> = (0..8)
        .map(|_| {
            let outbox = std::sync::Arc::clone(&outbox);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = outbox.lease_due(3, at, LEASE).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|e| e.event.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for relay in relays {
        for id in relay.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "{id} was leased twice");
        }
    }
    assert_eq!(total, 40);
}

pub async fn a_failed_event_is_due_again_at_its_retry_time_with_its_attempts_counted(stores: EventStores) {
    let ids = events(&stores, 1).await;
    let at = now() + Duration::seconds(1);
    stores.outbox.lease_due(1, at, LEASE).await.unwrap();

    stores.outbox.mark_failed(ids[0], "smtp down", 1, Some(at + Duration::seconds(10)), at).await.unwrap();

    assert!(stores.outbox.lease_due(1, at + Duration::seconds(9), LEASE).await.unwrap().is_empty());
    let again = stores.outbox.lease_due(1, at + Duration::seconds(10), LEASE).await.unwrap();
    assert_eq!((again[0].event.id, again[0].attempts), (ids[0], 1));
    assert_eq!(stores.outbox.backlog().await.unwrap().owed, 1);
    assert!(stores.dead_letters.list(super::support::all()).await.unwrap().items.is_empty());
}

pub async fn an_event_failed_for_good_is_a_dead_letter_until_retried(stores: EventStores) {
    let ids = events(&stores, 2).await;
    let at = now() + Duration::seconds(1);
    stores.outbox.lease_due(2, at, LEASE).await.unwrap();
    stores.outbox.mark_failed(ids[0], "first failure", 1, Some(at), at).await.unwrap();
    stores.outbox.mark_failed(ids[0], "mailbox unavailable", 2, None, at + Duration::seconds(1)).await.unwrap();
    stores.outbox.mark_failed(ids[1], "also dead", 1, None, at + Duration::seconds(2)).await.unwrap();

    let dead = stores.dead_letters.list(super::support::all()).await.unwrap();
    assert_eq!(dead.total, 2);
    assert_eq!(dead.items.iter().map(|d| d.event.id).collect::<Vec<_>>(), vec![ids[1], ids[0]], "newest first");
    assert_eq!((dead.items[1].error.as_str(), dead.items[1].attempts), ("mailbox unavailable", 2));
    assert_eq!(dead.items[1].failed_at, at + Duration::seconds(1));
    assert_eq!(stores.outbox.backlog().await.unwrap().owed, 0, "dead letters are not owed");
    stores.outbox.mark_handled(&ids[..1], at).await.unwrap();
    assert_eq!(stores.dead_letters.list(super::support::all()).await.unwrap().total, 2, "dead stays dead");
    assert!(stores.outbox.lease_due(10, at + LEASE * 10, LEASE).await.unwrap().is_empty());

    let revived_at = at + Duration::minutes(1);
    assert!(stores.dead_letters.retry(ids[0], revived_at).await.unwrap());
    assert!(!stores.dead_letters.retry(ids[0], revived_at).await.unwrap(), "no longer a dead letter");
    assert!(!stores.dead_letters.retry(EventId::new(), revived_at).await.unwrap(), "unknown");

    let due = stores.outbox.lease_due(10, revived_at, LEASE).await.unwrap();
    assert_eq!((due.len(), due[0].event.id, due[0].attempts), (1, ids[0], 0), "a fresh count of attempts");
    assert_eq!(stores.dead_letters.list(super::support::all()).await.unwrap().total, 1);
}

pub async fn purging_deletes_only_events_handled_before_the_cutoff(stores: EventStores) {
    let ids = events(&stores, 5).await;
    let at = now() + Duration::seconds(1);
    stores.outbox.mark_handled(&ids[..1], at).await.unwrap();
    stores.outbox.mark_handled(&ids[1..2], at + Duration::hours(2)).await.unwrap();
    stores.outbox.lease_due(10, at, LEASE).await.unwrap();
    stores.outbox.mark_failed(ids[2], "dead", 1, None, at).await.unwrap();
    stores.outbox.mark_published(&ids[3..4], at, at + REDELIVER).await.unwrap();

    assert_eq!(stores.outbox.purge_handled(at + Duration::hours(1)).await.unwrap(), 1);

    let left: Vec<EventId> = outbox(&stores).await.into_iter().map(|e| e.id).collect();
    assert_eq!(left, ids[1..], "the later handling, the dead letter, the published and the owed event stay");
}

pub async fn a_handled_event_is_recorded_per_handler_once(stores: EventStores) {
    let event = EventId::new();
    assert!(!stores.processed.is_processed("welcome_email", event).await.unwrap());

    stores.processed.mark_processed("welcome_email", event, now()).await.unwrap();
    stores.processed.mark_processed("welcome_email", event, now()).await.unwrap();

    assert!(stores.processed.is_processed("welcome_email", event).await.unwrap());
    assert!(!stores.processed.is_processed("order_confirmation", event).await.unwrap());
    assert!(!stores.processed.is_processed("welcome_email", EventId::new()).await.unwrap());
    assert_eq!(stores.processed.purge_processed(now() + Duration::seconds(1)).await.unwrap(), 1);
    assert!(!stores.processed.is_processed("welcome_email", event).await.unwrap());
}

pub async fn a_claim_is_held_by_one_caller_until_it_ends_or_is_given_back(stores: EventStores) {
    let (event, at) = (EventId::new(), now());
    let until = at + Duration::seconds(30);
    let claim = |at, until| stores.processed.claim("order_confirmation", event, at, until);

    assert_eq!(claim(at, until).await.unwrap(), Claim::Mine);
    assert_eq!(claim(at + Duration::seconds(29), until).await.unwrap(), Claim::Busy, "held by the first");
    assert_eq!(
        stores.processed.claim("welcome_email", event, at, until).await.unwrap(),
        Claim::Mine,
        "claims are per handler"
    );
    assert!(!stores.processed.is_processed("order_confirmation", event).await.unwrap(), "claimed is not handled");
    let later = until + Duration::seconds(60);
    assert_eq!(claim(until, later).await.unwrap(), Claim::Mine, "its holder died: the claim ended");

    stores.processed.release_claim("order_confirmation", event).await.unwrap();
    assert_eq!(claim(until, later).await.unwrap(), Claim::Mine, "given back: free at once");

    stores.processed.mark_processed("order_confirmation", event, later).await.unwrap();
    stores.processed.release_claim("order_confirmation", event).await.unwrap();
    assert_eq!(claim(later, later).await.unwrap(), Claim::Done, "handled stays handled");
    assert!(stores.processed.is_processed("order_confirmation", event).await.unwrap());
    assert_eq!(
        stores.processed.purge_processed(until + Duration::seconds(1)).await.unwrap(),
        1,
        "the welcome claim ended unused before the cutoff; the handled record is newer"
    );
    assert_eq!(stores.processed.claim("welcome_email", event, later, later).await.unwrap(), Claim::Mine);
}

pub async fn concurrent_claims_give_the_event_to_one_caller(stores: EventStores) {
    let event = EventId::new();
    let at = now();
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let processed = std::sync::Arc::clone(&stores.processed);
            tokio::spawn(async move { processed.claim("order_confirmation", event, at, at + LEASE).await.unwrap() })
        })
        .collect();
    let mut mine = 0;
    for claim in claims {
        if claim.await.unwrap() == Claim::Mine {
            mine += 1;
        }
    }
    assert_eq!(mine, 1);
}

pub async fn the_holders_of_a_permission_are_the_active_users_whose_role_grants_it(stores: EventStores) {
    let role = |name: &str| RoleName::parse(name).unwrap();
    let with_role = |email: &str, r: &str| NewUser { role: role(r), ..new_user(email) };
    let admin = stores.users.create(with_role("zed-admin@example.com", "admin")).await.unwrap();
    let moderator = stores.users.create(with_role("mod@example.com", "moderator")).await.unwrap();
    let gone = stores.users.create(with_role("gone-mod@example.com", "moderator")).await.unwrap();
    create_user(&stores, "plain@example.com").await;
    let ctx = AuditContext { actor: admin.id, now: now() };
    let deactivate = AdminUserChange { is_active: Some(false), ..Default::default() };
    stores.user_admin.apply_change(gone.id, &deactivate, ctx).await.unwrap();

    let holders = stores.users.active_holders_of(Permission::AnalyticsRead).await.unwrap();
    assert_eq!(holders.iter().map(|u| u.id).collect::<Vec<_>>(), vec![moderator.id, admin.id], "by email");
    let managers = stores.users.active_holders_of(Permission::OrdersManage).await.unwrap();
    assert_eq!(managers.iter().map(|u| u.id).collect::<Vec<_>>(), vec![admin.id], "admins hold everything");
}
