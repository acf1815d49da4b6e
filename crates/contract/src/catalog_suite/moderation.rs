//! Contract of review moderation on `ReviewRepository`: approved until checked, hidden
//! reviews out of the public list and the product's count and rating (their author still
//! lists them), verdicts stored only for the current text and never over a moderator's
//! decision on it, decisions audited with the change, and the moderators' queue.

use super::support::{all, create_product, create_review, create_user, get, new_review, now};
use crate::CatalogStores;
use chrono::Duration;
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, AuditFilter, NewReview};
use storefront_domain::{
    AuditAction, ModerationDecision, ModerationStatus, Rating, ReviewBody, ReviewId, ReviewModeration, ReviewVerdict,
    UserId, VerdictOutcome,
};
use uuid::Uuid;

fn verdict(revision: i64, status: ModerationStatus, toxicity: f64) -> ReviewVerdict {
    ReviewVerdict { revision, status, toxicity: Some(toxicity), checked_at: now() }
}

fn moderator(id: UserId) -> AuditContext {
    AuditContext { actor: id, now: now() }
}

fn ids(reviews: &[storefront_domain::Review]) -> Vec<ReviewId> {
    reviews.iter().map(|r| r.id).collect()
}

pub async fn a_new_review_is_approved_until_checked_at_revision_one(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;

    let review = create_review(&stores, product.id, author.id, 4).await;

    assert_eq!(review.moderation, ReviewModeration::default());
    assert_eq!(
        (review.moderation.status, review.moderation.toxicity, review.revision),
        (ModerationStatus::Approved, None, 1)
    );
    assert_eq!(stores.reviews.list_for_product(product.id, all()).await.unwrap().total, 1);
}

pub async fn a_flagged_review_leaves_the_public_list_and_the_products_count_and_rating(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let other = create_user(&stores, "alan@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let kept = create_review(&stores, product.id, other.id, 4).await;
    let toxic = create_review(&stores, product.id, author.id, 1).await;
    assert_eq!(get(&stores, product.id, None).await.review_count, 2);

    let outcome = stores.reviews.record_verdict(toxic.id, verdict(1, ModerationStatus::Flagged, 0.93)).await.unwrap();

    assert_eq!(outcome, VerdictOutcome::Recorded);
    let public = stores.reviews.list_for_product(product.id, all()).await.unwrap();
    assert_eq!((public.total, ids(&public.items)), (1, vec![kept.id]));
    let seen = get(&stores, product.id, None).await;
    assert_eq!((seen.review_count, seen.rating_avg), (1, Some(4.0)), "the flagged 1-star review counts for nothing");
    let stored = stores.reviews.get(toxic.id).await.unwrap().unwrap();
    assert_eq!(stored.moderation.status, ModerationStatus::Flagged);
    assert_eq!(stored.moderation.toxicity, Some(0.93));
    assert!(stored.moderation.checked_at.is_some());

    // Its author still lists it; anyone else sees the public list.
    let own = stores.reviews.list_for_viewer(product.id, author.id, all()).await.unwrap();
    assert_eq!((own.total, ids(&own.items)), (2, vec![toxic.id, kept.id]));
    let stranger = stores.reviews.list_for_viewer(product.id, other.id, all()).await.unwrap();
    assert_eq!((stranger.total, ids(&stranger.items)), (1, vec![kept.id]));

    // Approved again, it counts again.
    stores.reviews.record_verdict(toxic.id, verdict(1, ModerationStatus::Approved, 0.1)).await.unwrap();
    let seen = get(&stores, product.id, None).await;
    assert_eq!((seen.review_count, seen.rating_avg), (2, Some(2.5)));
}

pub async fn a_hidden_reviews_rating_change_and_deletion_leave_the_aggregates_alone(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let other = create_user(&stores, "alan@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    create_review(&stores, product.id, other.id, 5).await;
    let hidden = create_review(&stores, product.id, author.id, 1).await;
    stores.reviews.record_verdict(hidden.id, verdict(1, ModerationStatus::Flagged, 0.9)).await.unwrap();

    let changed = stores.reviews.update(hidden.id, Some(Rating::parse(2).unwrap()), None, now()).await.unwrap();

    assert_eq!(changed.moderation.status, ModerationStatus::Flagged, "an edit keeps the review hidden");
    assert_eq!(changed.revision, 1, "the text did not change");
    let seen = get(&stores, product.id, None).await;
    assert_eq!((seen.review_count, seen.rating_avg), (1, Some(5.0)));
    stores.reviews.delete(hidden.id).await.unwrap();
    let seen = get(&stores, product.id, None).await;
    assert_eq!((seen.review_count, seen.rating_avg), (1, Some(5.0)));
}

pub async fn a_verdict_on_an_older_text_is_stale_and_stores_nothing(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let review = create_review(&stores, product.id, author.id, 3).await;

    let same = stores.reviews.update(review.id, None, Some(ReviewBody::parse(&review.body).unwrap()), now()).await;
    assert_eq!(same.unwrap().revision, 1, "the same body again is no new revision");
    let edited = stores
        .reviews
        .update(review.id, None, Some(ReviewBody::parse("Pages fell out.").unwrap()), now())
        .await
        .unwrap();
    assert_eq!(edited.revision, 2);

    let outcome = stores.reviews.record_verdict(review.id, verdict(1, ModerationStatus::Flagged, 0.8)).await.unwrap();

    assert_eq!(outcome, VerdictOutcome::Stale);
    let stored = stores.reviews.get(review.id).await.unwrap().unwrap();
    assert_eq!(stored.moderation, ReviewModeration::default());
    let current = stores.reviews.record_verdict(review.id, verdict(2, ModerationStatus::Approved, 0.05)).await;
    assert_eq!(current.unwrap(), VerdictOutcome::Recorded);
    // The same verdict again (a duplicate delivery) changes nothing.
    let again = stores.reviews.record_verdict(review.id, verdict(2, ModerationStatus::Approved, 0.05)).await;
    assert_eq!(again.unwrap(), VerdictOutcome::Recorded);
    assert_eq!(get(&stores, product.id, None).await.review_count, 1);
}

pub async fn a_verdict_never_overrides_a_moderators_decision_on_the_same_text(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let judge = create_user(&stores, "mod@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let review = create_review(&stores, product.id, author.id, 2).await;
    stores.reviews.record_verdict(review.id, verdict(1, ModerationStatus::Flagged, 0.7)).await.unwrap();

    let approved = stores.reviews.decide(review.id, ModerationDecision::Approve, moderator(judge.id)).await.unwrap();

    assert_eq!(approved.moderation.status, ModerationStatus::Approved);
    assert_eq!(approved.moderation.toxicity, Some(0.7), "the check's toxicity is kept for the record");
    assert_eq!(get(&stores, product.id, None).await.review_count, 1);
    let outcome = stores.reviews.record_verdict(review.id, verdict(1, ModerationStatus::Flagged, 0.7)).await.unwrap();
    assert_eq!(outcome, VerdictOutcome::Decided);
    assert_eq!(stores.reviews.get(review.id).await.unwrap().unwrap().moderation.status, ModerationStatus::Approved);

    // A new text is checked again: the decision was on the old one.
    stores.reviews.update(review.id, None, Some(ReviewBody::parse("Now rude.").unwrap()), now()).await.unwrap();
    let outcome = stores.reviews.record_verdict(review.id, verdict(2, ModerationStatus::Flagged, 0.9)).await.unwrap();
    assert_eq!(outcome, VerdictOutcome::Recorded);
    assert_eq!(get(&stores, product.id, None).await.review_count, 0);
}

pub async fn a_decision_is_audited_with_the_change(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let judge = create_user(&stores, "mod@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let review = create_review(&stores, product.id, author.id, 2).await;
    let ctx = moderator(judge.id);

    let rejected = stores.reviews.decide(review.id, ModerationDecision::Reject, ctx).await.unwrap();

    assert_eq!(rejected.moderation.status, ModerationStatus::Rejected);
    assert_eq!(rejected.moderation.checked_at, Some(ctx.now));
    assert_eq!(get(&stores, product.id, None).await.review_count, 0);
    assert_eq!(stores.reviews.list_for_product(product.id, all()).await.unwrap().total, 0);
    let filter = AuditFilter { action: Some(AuditAction::ReviewRejected), actor_id: None };
    let entries = stores.audit.list(&filter, all()).await.unwrap().items;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor_id, Some(judge.id));
    assert_eq!(entries[0].target, format!("review:{}", review.id));
    assert_eq!(entries[0].details["from"], "approved");
    assert_eq!(entries[0].details["to"], "rejected");

    let unknown = stores.reviews.decide(ReviewId(Uuid::now_v7()), ModerationDecision::Approve, ctx).await;
    assert_eq!(unknown.unwrap_err(), StoreError::NotFound);
    let filter = AuditFilter { action: Some(AuditAction::ReviewApproved), actor_id: None };
    assert_eq!(stores.audit.list(&filter, all()).await.unwrap().total, 0, "nothing decided, nothing audited");
    let gone = stores.reviews.record_verdict(ReviewId(Uuid::now_v7()), verdict(1, ModerationStatus::Approved, 0.0));
    assert_eq!(gone.await.unwrap_err(), StoreError::NotFound);
}

pub async fn the_moderation_queue_lists_one_status_newest_first(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let other = create_product(&stores, owner.id, "Pencil").await;
    let mut flagged = Vec::new();
    for (n, target) in [product.id, other.id, product.id].into_iter().enumerate() {
        let author = create_user(&stores, &format!("author{n}@example.com")).await;
        let new = NewReview { created_at: now() + Duration::seconds(n as i64), ..new_review(target, author.id, 2) };
        let review = stores.reviews.create(new).await.unwrap();
        stores.reviews.record_verdict(review.id, verdict(1, ModerationStatus::Flagged, 0.8)).await.unwrap();
        flagged.push(review.id);
    }
    let fine = create_user(&stores, "fine@example.com").await;
    let approved = create_review(&stores, product.id, fine.id, 5).await;

    let queue = stores.reviews.list_by_status(ModerationStatus::Flagged, all()).await.unwrap();

    flagged.reverse();
    assert_eq!((queue.total, ids(&queue.items)), (3, flagged.clone()));
    assert!(queue.items.iter().all(|r| r.moderation.status == ModerationStatus::Flagged));
    let second = stores.reviews.list_by_status(ModerationStatus::Flagged, super::support::page(1, 1)).await.unwrap();
    assert_eq!((second.total, ids(&second.items)), (3, vec![flagged[1]]));
    let approved_queue = stores.reviews.list_by_status(ModerationStatus::Approved, all()).await.unwrap();
    assert_eq!(ids(&approved_queue.items), vec![approved.id]);
    assert_eq!(stores.reviews.list_by_status(ModerationStatus::Rejected, all()).await.unwrap().total, 0);
}
