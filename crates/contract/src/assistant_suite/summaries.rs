//! Contract of `ReviewSummaryRepository`: the regeneration slot is granted once per
//! interval (also to concurrent claimants), a summary is stored stale when reviews changed
//! after its claim, and summaries go with their product.

use crate::AssistantStores;
use crate::suite::support::{new_user, now};
use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use storefront_app::StoreError;
use storefront_app::ports::{GeneratedSummary, NewProduct};
use storefront_domain::{Description, PriceCents, ProductId, ProductName, RegenerationRule, Stock};
use uuid::Uuid;

const RULE: RegenerationRule = RegenerationRule { min_interval: TimeDelta::seconds(60) };

async fn create_product(stores: &AssistantStores) -> ProductId {
    let owner = stores.users.create(new_user("owner@example.com")).await.unwrap();
    let product = NewProduct {
        id: ProductId(Uuid::now_v7()),
        owner_id: owner.id,
        name: ProductName::parse("Oak desk").unwrap(),
        description: Description::default(),
        price: PriceCents::parse(1_000).unwrap(),
        stock: Stock::parse(5).unwrap(),
        category_ids: Vec::new(),
        created_at: now(),
    };
    stores.products.create(product).await.unwrap().id
}

fn generated(revision: i64, at: DateTime<Utc>) -> GeneratedSummary {
    GeneratedSummary {
        summary: "Sturdy and easy to build.".into(),
        review_count: 2,
        rating_avg: Some(4.5),
        generated_at: at,
        provider: "builtin".into(),
        model: "builtin".into(),
        revision,
    }
}

pub async fn a_claim_is_granted_once_per_interval(stores: AssistantStores) {
    let product = create_product(&stores).await;
    let t0 = now();
    assert_eq!(stores.summaries.review_summary(product).await.unwrap(), None);

    let first = stores.summaries.claim_summary_regeneration(product, t0, RULE).await.unwrap();
    assert!(first.is_some(), "the first claim is granted");
    let stored = stores.summaries.review_summary(product).await.unwrap().unwrap();
    assert_eq!((stored.summary, stored.claimed_at, stored.stale), (None, Some(t0), true));
    for later in [TimeDelta::zero(), TimeDelta::seconds(59)] {
        let again = stores.summaries.claim_summary_regeneration(product, t0 + later, RULE).await.unwrap();
        assert_eq!(again, None, "within the interval ({later})");
    }
    let next = stores.summaries.claim_summary_regeneration(product, t0 + TimeDelta::seconds(60), RULE).await.unwrap();
    assert!(next.is_some(), "once the interval has passed");
    let stored = stores.summaries.review_summary(product).await.unwrap().unwrap();
    assert_eq!(stored.claimed_at, Some(t0 + TimeDelta::seconds(60)));
}

pub async fn concurrent_claims_within_an_interval_grant_one(stores: AssistantStores) {
    let product = create_product(&stores).await;
    let t0 = now();
    let claims = (0..8).map(|i| stores.summaries.claim_summary_regeneration(product, t0 + TimeDelta::seconds(i), RULE));
    let granted = join_all(claims).await.into_iter().map(Result::unwrap).filter(Option::is_some).count();
    assert_eq!(granted, 1);
}

pub async fn a_stored_summary_is_fresh_unless_reviews_changed_since_its_claim(stores: AssistantStores) {
    let product = create_product(&stores).await;
    let t0 = now();
    stores.summaries.mark_summary_stale(product).await.unwrap();
    let revision = stores.summaries.claim_summary_regeneration(product, t0, RULE).await.unwrap().unwrap();
    stores.summaries.store_review_summary(product, &generated(revision, t0)).await.unwrap();
    let stored = stores.summaries.review_summary(product).await.unwrap().unwrap();
    assert_eq!(stored.summary.as_deref(), Some("Sturdy and easy to build."));
    assert_eq!((stored.review_count, stored.rating_avg), (2, Some(4.5)));
    assert_eq!(
        (stored.generated_at, stored.provider.as_deref(), stored.model.as_deref()),
        (Some(t0), Some("builtin"), Some("builtin"))
    );
    assert!(!stored.stale, "nothing changed since the claim");

    stores.summaries.mark_summary_stale(product).await.unwrap();
    assert!(stores.summaries.review_summary(product).await.unwrap().unwrap().stale);

    // A review arrives while the next summary is being made: it is stored, but stale.
    let t1 = t0 + TimeDelta::seconds(60);
    let revision = stores.summaries.claim_summary_regeneration(product, t1, RULE).await.unwrap().unwrap();
    stores.summaries.mark_summary_stale(product).await.unwrap();
    stores.summaries.store_review_summary(product, &generated(revision, t1)).await.unwrap();
    let stored = stores.summaries.review_summary(product).await.unwrap().unwrap();
    assert_eq!(stored.generated_at, Some(t1));
    assert!(stored.stale, "a review changed after the claim");
}

pub async fn an_unknown_product_has_no_summary_to_mark_or_claim(stores: AssistantStores) {
    let ghost = ProductId(Uuid::now_v7());
    assert_eq!(stores.summaries.mark_summary_stale(ghost).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(
        stores.summaries.claim_summary_regeneration(ghost, now(), RULE).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        stores.summaries.store_review_summary(ghost, &generated(0, now())).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(stores.summaries.review_summary(ghost).await.unwrap(), None);
}

pub async fn a_summary_goes_with_its_product(stores: AssistantStores) {
    let product = create_product(&stores).await;
    let revision = stores.summaries.claim_summary_regeneration(product, now(), RULE).await.unwrap().unwrap();
    stores.summaries.store_review_summary(product, &generated(revision, now())).await.unwrap();
    stores.products.delete(product).await.unwrap();
    assert_eq!(stores.summaries.review_summary(product).await.unwrap(), None);
}
