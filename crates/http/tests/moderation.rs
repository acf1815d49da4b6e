//! Review moderation over HTTP, end to end on the builtin provider: a toxic review posted
//! over HTTP is flagged by the in-process dispatcher (as `serve` runs it without Redis) and
//! leaves the public list and the product's count and rating while its author still sees
//! it; moderators list the queue and decide, audited; an edit is checked again. With every
//! status the two admin operations answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog_support;
mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test::init_service;
use catalog_support::*;
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use storefront_app::ports::SystemClock;
use storefront_app::{HandlingReport, OutboxDispatcher, OutboxSettings, RetryPolicy, ReviewModerationHandler};
use storefront_http::{AppState, build_app};
use storefront_memory::MemoryStore;

const TOXIC: &str = "You are a fucking idiot and your shop is shit.";
const KIND: &str = "Lovely mug, sturdy and easy to clean. Thank you!";

/// The in-process dispatcher with the moderation handler, over the app's store and its
/// text analysis (the builtin provider).
fn dispatcher(store: &MemoryStore, state: &AppState) -> OutboxDispatcher {
    let handler = ReviewModerationHandler::new(Arc::new(store.clone()), state.analysis.clone(), Arc::new(SystemClock));
    OutboxDispatcher::new(
        Arc::new(store.clone()),
        Arc::new(handler),
        Arc::new(SystemClock),
        RetryPolicy::default(),
        OutboxSettings::default(),
    )
}

async fn drain(dispatcher: &OutboxDispatcher) -> HandlingReport {
    let report = dispatcher.run_once().await.unwrap();
    assert_eq!(report.failed + report.dead_lettered + report.deferred, 0, "{report:?}");
    report
}

fn review_body(rating: i64, body: &str) -> Value {
    json!({"rating": rating, "body": body})
}

#[actix_web::test]
async fn a_toxic_review_is_flagged_hidden_from_the_public_but_not_its_author_and_a_moderators_decision_is_audited() {
    let store = MemoryStore::new();
    let state = state_on(store.clone(), storefront_app::AuthSettings::default());
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;
    let seller = signed_up(&app, "seller@example.com").await;
    let author = signed_up(&app, "troll@example.com").await;
    let fan = signed_up(&app, "fan@example.com").await;
    let mug = create_product(&app, &seller.access, new_product("Mug", 900, 20)).await;
    let mug_id = mug["id"].as_str().unwrap();
    let reviews_uri = format!("/api/v1/products/{mug_id}/reviews");

    let posted = send(&app, call(Method::POST, &reviews_uri, Some(&author.access), Some(review_body(1, TOXIC)))).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{:?}", posted.body);
    let toxic = posted.json();
    let toxic_id = toxic["id"].as_str().unwrap().to_owned();
    assert_eq!(toxic["moderation"], json!({"status": "approved", "toxicity": null, "checked_at": null}));
    let kind = send(&app, call(Method::POST, &reviews_uri, Some(&fan.access), Some(review_body(5, KIND)))).await.json();
    let kind_id = kind["id"].as_str().unwrap().to_owned();

    // Approved until checked: both are public and counted.
    let public = get(&app, &reviews_uri, None).await.json();
    assert_eq!(public["total"], 2);
    assert!(public["items"].as_array().unwrap().iter().all(|r| r.get("moderation").is_none()), "{public}");
    assert_eq!(product(&app, mug_id).await["review_count"], 2);

    let report = drain(&dispatcher(&store, &state)).await;
    assert!(report.handled >= 2, "{report:?}");

    // Anyone else: the flagged review is gone from the list, the count and the rating.
    let public = get(&app, &reviews_uri, None).await.json();
    assert_eq!((public["total"].clone(), item_ids(&public)), (json!(1), vec![kind_id.clone()]));
    let seen = product(&app, mug_id).await;
    assert_eq!((seen["review_count"].clone(), seen["rating_avg"].clone()), (json!(1), json!(5.0)));
    let by_fan = get(&app, &reviews_uri, Some(&fan.access)).await.json();
    assert_eq!(item_ids(&by_fan), vec![kind_id.clone()]);
    assert!(by_fan["items"][0]["moderation"]["status"] == "approved", "the fan sees its own moderation: {by_fan}");
    let toxic_uri = format!("/api/v1/reviews/{toxic_id}");
    get(&app, &toxic_uri, None).await.problem(404, "not_found");
    get(&app, &toxic_uri, Some(&fan.access)).await.problem(404, "not_found");
    let edit = call(Method::PATCH, &toxic_uri, Some(&fan.access), Some(json!({"rating": 5})));
    send(&app, edit).await.problem(404, "not_found");
    send(&app, call(Method::DELETE, &toxic_uri, Some(&fan.access), None)).await.problem(404, "not_found");

    // Its author still sees it, with why.
    let own = get(&app, &reviews_uri, Some(&author.access)).await.json();
    assert_eq!((own["total"].clone(), item_ids(&own)), (json!(2), vec![kind_id.clone(), toxic_id.clone()]));
    let mine = &own["items"][1];
    assert_eq!(mine["moderation"]["status"], "flagged", "{mine}");
    assert!(mine["moderation"]["toxicity"].as_f64().unwrap() >= 0.5, "{mine}");
    assert!(mine["moderation"]["checked_at"].is_string(), "{mine}");
    assert!(own["items"][0].get("moderation").is_none(), "not the author's, not a moderator: {own}");
    let read = get(&app, &toxic_uri, Some(&author.access)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["moderation"]["status"], "flagged");

    // The moderators' queue has it; the moderator reads it by id too.
    let queue = get(&app, "/api/v1/admin/reviews", Some(&moderator.access)).await.json();
    assert_eq!((queue["total"].clone(), item_ids(&queue)), (json!(1), vec![toxic_id.clone()]));
    assert_eq!(queue["items"][0]["moderation"]["status"], "flagged");
    assert_eq!(get(&app, &toxic_uri, Some(&moderator.access)).await.status, StatusCode::OK);

    // Rejected: still hidden, out of the flagged queue, into the rejected one, audited.
    let decision_uri = format!("/api/v1/admin/reviews/{toxic_id}/decision");
    let decided =
        send(&app, call(Method::POST, &decision_uri, Some(&moderator.access), Some(json!({"decision": "reject"}))))
            .await;
    assert_eq!(decided.status, StatusCode::OK, "{:?}", decided.body);
    assert_eq!(decided.json()["moderation"]["status"], "rejected");
    assert_eq!(get(&app, "/api/v1/admin/reviews", Some(&moderator.access)).await.json()["total"], 0);
    let rejected = get(&app, "/api/v1/admin/reviews?status=rejected", Some(&moderator.access)).await.json();
    assert_eq!(item_ids(&rejected), vec![toxic_id.clone()]);
    assert_eq!(get(&app, &reviews_uri, None).await.json()["total"], 1);
    let audit = get(&app, "/api/v1/admin/audit?action=review.rejected", Some(&admin.access)).await.json();
    assert_eq!(audit["total"], 1, "{audit}");
    let entry = &audit["items"][0];
    assert_eq!(entry["actor_id"], user_id(&moderator.access));
    assert_eq!(entry["target"], format!("review:{toxic_id}"));
    assert_eq!(
        (entry["details"]["from"].clone(), entry["details"]["to"].clone()),
        (json!("flagged"), json!("rejected"))
    );

    // Approved by hand: public and counted again, and a repeated check does not undo it.
    let approved =
        send(&app, call(Method::POST, &decision_uri, Some(&moderator.access), Some(json!({"decision": "approve"}))))
            .await;
    assert_eq!(approved.json()["moderation"]["status"], "approved");
    let audit = get(&app, "/api/v1/admin/audit?action=review.approved", Some(&admin.access)).await.json();
    assert_eq!(audit["total"], 1, "{audit}");
    let seen = product(&app, mug_id).await;
    assert_eq!((seen["review_count"].clone(), seen["rating_avg"].clone()), (json!(2), json!(3.0)));
    let public = get(&app, &reviews_uri, None).await.json();
    assert_eq!(item_ids(&public), vec![kind_id, toxic_id]);
}

#[actix_web::test]
async fn an_edited_review_is_checked_again() {
    let store = MemoryStore::new();
    let state = state_on(store.clone(), storefront_app::AuthSettings::default());
    let app = init_service(build_app(state.clone())).await;
    let seller = signed_up(&app, "seller@example.com").await;
    let author = signed_up(&app, "author@example.com").await;
    let mug = create_product(&app, &seller.access, new_product("Mug", 900, 20)).await;
    let reviews_uri = format!("/api/v1/products/{}/reviews", mug["id"].as_str().unwrap());
    let dispatcher = dispatcher(&store, &state);

    let review = send(&app, call(Method::POST, &reviews_uri, Some(&author.access), Some(review_body(4, KIND)))).await;
    let review_uri = format!("/api/v1/reviews/{}", review.json()["id"].as_str().unwrap());
    drain(&dispatcher).await;
    let checked = get(&app, &review_uri, Some(&author.access)).await.json();
    assert_eq!(
        (checked["moderation"]["status"].clone(), checked["moderation"]["toxicity"].clone()),
        (json!("approved"), json!(0.0))
    );

    // Rewritten into abuse: flagged once the edit's event is handled.
    let edited = send(&app, call(Method::PATCH, &review_uri, Some(&author.access), Some(json!({"body": TOXIC})))).await;
    assert_eq!(edited.status, StatusCode::OK);
    assert_eq!(edited.json()["moderation"]["status"], "approved", "shown until its new text is checked");
    assert_eq!(drain(&dispatcher).await.handled, 1);
    assert_eq!(get(&app, &review_uri, Some(&author.access)).await.json()["moderation"]["status"], "flagged");
    get(&app, &review_uri, None).await.problem(404, "not_found");

    // Rewritten back: approved again.
    send(&app, call(Method::PATCH, &review_uri, Some(&author.access), Some(json!({"body": KIND})))).await;
    drain(&dispatcher).await;
    assert_eq!(get(&app, &review_uri, None).await.status, StatusCode::OK);
    assert_eq!(get(&app, &reviews_uri, None).await.json()["total"], 1);
}

#[actix_web::test]
async fn the_admin_operations_answer_422_for_a_bad_status_or_decision_and_404_for_an_unknown_review() {
    let store = MemoryStore::new();
    let state = state_on(store.clone(), storefront_app::AuthSettings::default());
    let app = init_service(build_app(state.clone())).await;
    let moderator = signed_in_with_role(&app, &state, "mod@example.com", "moderator").await;
    let seller = signed_up(&app, "seller@example.com").await;
    let author = signed_up(&app, "author@example.com").await;
    let mug = create_product(&app, &seller.access, new_product("Mug", 900, 20)).await;
    let review = create_review(&app, &author.access, mug["id"].as_str().unwrap(), 3).await;
    let decision_uri = format!("/api/v1/admin/reviews/{}/decision", review["id"].as_str().unwrap());
    let decide = |body: Value| call(Method::POST, &decision_uri, Some(&moderator.access), Some(body));

    let bogus = get(&app, "/api/v1/admin/reviews?status=hidden", Some(&moderator.access)).await;
    assert_eq!(bogus.problem(422, "validation_failed")["errors"][0]["field"], "status");
    let reply = get(&app, "/api/v1/admin/reviews?status=flagged&limit=0", Some(&moderator.access)).await;
    reply.problem(422, "validation_failed");

    assert_eq!(send(&app, decide(json!({"decision": "delete"}))).await.fields(), vec!["decision"]);
    assert_eq!(send(&app, decide(json!({}))).await.fields(), vec!["decision"]);
    assert_eq!(send(&app, decide(json!({"decision": "reject", "why": "rude"}))).await.fields(), vec!["why"]);
    let unknown = format!("/api/v1/admin/reviews/{}/decision", uuid::Uuid::now_v7());
    let reply = send(&app, call(Method::POST, &unknown, Some(&moderator.access), Some(json!({"decision": "approve"}))));
    reply.await.problem(404, "not_found");
    let reply = send(&app, call(Method::POST, "/api/v1/admin/reviews/nope/decision", Some(&moderator.access), None));
    assert_eq!(reply.await.status, StatusCode::NOT_FOUND);

    // Nothing was decided, nothing audited.
    assert_eq!(
        get(&app, &format!("/api/v1/reviews/{}", review["id"].as_str().unwrap()), None).await.status,
        StatusCode::OK
    );
    let audited = storefront_app::ports::AuditLog::list(
        &store,
        &storefront_app::ports::AuditFilter::default(),
        storefront_app::ports::PageRequest { limit: 100, offset: 0 },
    )
    .await
    .unwrap();
    assert!(audited.items.iter().all(|e| !e.action.as_str().starts_with("review.")), "{:?}", audited.items);
}
