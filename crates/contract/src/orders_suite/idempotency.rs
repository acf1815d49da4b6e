//! Contract of `IdempotencyStore` (with `OrderUnit::complete_key`): a key is claimed once
//! per user, its first response is replayed byte for byte, another body is refused, and
//! keys expire, are abandoned, released and purged.

use super::support::{ABANDON_AFTER, RETENTION, create_user, now};
use crate::OrderStores;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use storefront_app::ports::{IdempotencyBegin, StoredResponse};
use storefront_domain::UserId;

const KEY: &str = "order-2024-06-01 #1";
const BODY: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015";
const OTHER_BODY: &str = "sha256:60303ae22b998861bce3b28f33eec1be";

/// A created order's response, with the spacing and key order of what was sent: a store
/// that re-encoded it would change the bytes.
fn created() -> StoredResponse {
    StoredResponse {
        status: 201,
        location: Some("/api/v1/orders/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b".into()),
        body: "{\"id\":\"0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b\",  \"total_cents\":1999,\"a\":[],\"name\":\"Caf\u{e9} \u{2603}\"}\n"
            .as_bytes()
            .to_vec(),
    }
}

async fn begin_at(stores: &OrderStores, user: UserId, key: &str, body: &str, at: DateTime<Utc>) -> IdempotencyBegin {
    stores.idempotency.begin(user, key, body, at, RETENTION, ABANDON_AFTER).await.unwrap()
}

async fn begin(stores: &OrderStores, user: UserId, key: &str, body: &str) -> IdempotencyBegin {
    begin_at(stores, user, key, body, now()).await
}

/// Stores the key's response in a unit of work of its own.
async fn complete_at(stores: &OrderStores, user: UserId, key: &str, response: StoredResponse, at: DateTime<Utc>) {
    let mut unit = stores.orders.begin().await.unwrap();
    unit.complete_key(user, key, &response, at).await.unwrap();
    unit.commit().await.unwrap();
}

pub async fn a_completed_key_replays_its_stored_response_byte_for_byte(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    assert_eq!(begin(&stores, user.id, KEY, BODY).await, IdempotencyBegin::Fresh);

    complete_at(&stores, user.id, KEY, created(), now()).await;

    for _ in 0..2 {
        let IdempotencyBegin::Replay(replayed) = begin(&stores, user.id, KEY, BODY).await else { panic!("no replay") };
        assert_eq!(replayed, created());
        assert_eq!(replayed.body, created().body, "the very bytes");
    }
}

pub async fn any_first_response_is_replayed_whatever_its_status(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    let refused = StoredResponse {
        status: 409,
        location: None,
        body: br#"{"type":"about:blank","status":409,"code":"insufficient_stock","request_id":"r-1"}"#.to_vec(),
    };
    begin(&stores, user.id, KEY, BODY).await;

    complete_at(&stores, user.id, KEY, refused.clone(), now()).await;

    assert_eq!(begin(&stores, user.id, KEY, BODY).await, IdempotencyBegin::Replay(refused));
}

pub async fn a_key_used_with_another_body_is_reported_as_reused_whether_running_or_completed(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    begin(&stores, user.id, KEY, BODY).await;

    assert_eq!(begin(&stores, user.id, KEY, OTHER_BODY).await, IdempotencyBegin::KeyReused, "while running");
    assert_eq!(begin(&stores, user.id, KEY, BODY).await, IdempotencyBegin::InFlight, "the first claim stands");

    complete_at(&stores, user.id, KEY, created(), now()).await;

    assert_eq!(begin(&stores, user.id, KEY, OTHER_BODY).await, IdempotencyBegin::KeyReused, "once completed");
    assert_eq!(begin(&stores, user.id, KEY, BODY).await, IdempotencyBegin::Replay(created()));
}

pub async fn a_key_whose_first_request_is_still_running_is_in_flight(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    let at = now();
    assert_eq!(begin_at(&stores, user.id, KEY, BODY, at).await, IdempotencyBegin::Fresh);

    assert_eq!(begin_at(&stores, user.id, KEY, BODY, at).await, IdempotencyBegin::InFlight);
    assert_eq!(begin_at(&stores, user.id, KEY, BODY, at + Duration::minutes(4)).await, IdempotencyBegin::InFlight);
}

pub async fn a_released_key_is_fresh_again(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    begin(&stores, user.id, KEY, BODY).await;

    stores.idempotency.release(user.id, KEY).await.unwrap();

    assert_eq!(
        begin(&stores, user.id, KEY, OTHER_BODY).await,
        IdempotencyBegin::Fresh,
        "released, it remembers no body"
    );
    assert_eq!(begin(&stores, user.id, KEY, OTHER_BODY).await, IdempotencyBegin::InFlight);
}

pub async fn another_users_identical_key_is_unrelated(stores: OrderStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    begin(&stores, ada.id, KEY, BODY).await;
    complete_at(&stores, ada.id, KEY, created(), now()).await;

    assert_eq!(begin(&stores, grace.id, KEY, OTHER_BODY).await, IdempotencyBegin::Fresh);
    assert_eq!(begin(&stores, grace.id, KEY, OTHER_BODY).await, IdempotencyBegin::InFlight);
    stores.idempotency.release(grace.id, KEY).await.unwrap();

    assert_eq!(begin(&stores, ada.id, KEY, BODY).await, IdempotencyBegin::Replay(created()), "untouched by the other");
    assert_eq!(begin(&stores, grace.id, KEY, BODY).await, IdempotencyBegin::Fresh);
}

pub async fn a_completed_key_is_fresh_again_once_its_response_is_past_the_retention(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    let claimed = now() - Duration::days(3);
    begin_at(&stores, user.id, KEY, BODY, claimed).await;
    // Completed four minutes after the claim: the retention runs from the completion.
    let completed = claimed + Duration::minutes(4);
    complete_at(&stores, user.id, KEY, created(), completed).await;

    let just_within = completed + RETENTION - Duration::seconds(1);
    assert_eq!(begin_at(&stores, user.id, KEY, BODY, just_within).await, IdempotencyBegin::Replay(created()));
    assert_eq!(begin_at(&stores, user.id, KEY, OTHER_BODY, just_within).await, IdempotencyBegin::KeyReused);

    let past = completed + RETENTION + Duration::seconds(1);
    assert_eq!(
        begin_at(&stores, user.id, KEY, OTHER_BODY, past).await,
        IdempotencyBegin::Fresh,
        "a new claim, any body"
    );
    assert_eq!(begin_at(&stores, user.id, KEY, OTHER_BODY, past).await, IdempotencyBegin::InFlight);
}

pub async fn an_unfinished_key_is_fresh_again_once_abandoned(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    let claimed = now() - Duration::hours(1);
    begin_at(&stores, user.id, KEY, BODY, claimed).await;

    let just_within = claimed + ABANDON_AFTER - Duration::seconds(1);
    assert_eq!(begin_at(&stores, user.id, KEY, BODY, just_within).await, IdempotencyBegin::InFlight);

    let abandoned = claimed + ABANDON_AFTER + Duration::seconds(1);
    assert_eq!(begin_at(&stores, user.id, KEY, BODY, abandoned).await, IdempotencyBegin::Fresh);
    assert_eq!(
        begin_at(&stores, user.id, KEY, BODY, abandoned).await,
        IdempotencyBegin::InFlight,
        "the new claim runs from its own time"
    );
    complete_at(&stores, user.id, KEY, created(), abandoned).await;
    assert_eq!(begin_at(&stores, user.id, KEY, BODY, abandoned).await, IdempotencyBegin::Replay(created()));
}

pub async fn ten_concurrent_begins_with_one_key_let_exactly_one_claim_it(stores: OrderStores) {
    let user = create_user(&stores, "buyer@example.com").await;
    for round in 0..3 {
        let key = format!("{KEY}-{round}");
        let at = now();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let store = Arc::clone(&stores.idempotency);
                let key = key.clone();
                tokio::spawn(async move { store.begin(user.id, &key, BODY, at, RETENTION, ABANDON_AFTER).await })
            })
            .collect();
        let outcomes: Vec<IdempotencyBegin> =
            futures::future::join_all(tasks).await.into_iter().map(|t| t.unwrap().unwrap()).collect();

        assert_eq!(
            outcomes.iter().filter(|o| **o == IdempotencyBegin::Fresh).count(),
            1,
            "round {round}: {outcomes:?}"
        );
        assert_eq!(
            outcomes.iter().filter(|o| **o == IdempotencyBegin::InFlight).count(),
            9,
            "round {round}: {outcomes:?}"
        );
    }
}

pub async fn purging_deletes_the_keys_created_before_the_cutoff_and_counts_them(stores: OrderStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let base = now();
    let cutoff = base - Duration::days(1);
    begin_at(&stores, ada.id, "old-completed", BODY, base - Duration::days(3)).await;
    complete_at(&stores, ada.id, "old-completed", created(), base - Duration::days(3)).await;
    begin_at(&stores, grace.id, "old-running", BODY, cutoff - Duration::seconds(1)).await;
    begin_at(&stores, ada.id, "recent-completed", BODY, cutoff + Duration::seconds(1)).await;
    complete_at(&stores, ada.id, "recent-completed", created(), cutoff + Duration::seconds(1)).await;
    begin_at(&stores, grace.id, "recent-running", BODY, base).await;

    assert_eq!(stores.idempotency.purge(cutoff).await.unwrap(), 2);
    assert_eq!(stores.idempotency.purge(cutoff).await.unwrap(), 0, "nothing left to purge");

    // Each key looked at a minute after its claim, when it would be neither expired nor
    // abandoned: only a purged key can be fresh, even for another body.
    let soon_after = |at: DateTime<Utc>| at + Duration::minutes(1);
    let old_completed =
        begin_at(&stores, ada.id, "old-completed", OTHER_BODY, soon_after(base - Duration::days(3))).await;
    assert_eq!(old_completed, IdempotencyBegin::Fresh);
    let old_running =
        begin_at(&stores, grace.id, "old-running", OTHER_BODY, soon_after(cutoff - Duration::seconds(1))).await;
    assert_eq!(old_running, IdempotencyBegin::Fresh);
    let recent_completed =
        begin_at(&stores, ada.id, "recent-completed", BODY, soon_after(cutoff + Duration::seconds(1))).await;
    assert_eq!(recent_completed, IdempotencyBegin::Replay(created()), "kept");
    let recent_running = begin_at(&stores, grace.id, "recent-running", OTHER_BODY, soon_after(base)).await;
    assert_eq!(recent_running, IdempotencyBegin::KeyReused, "kept");
}
