//! Contract of `ReviewRepository`: one review per author and product, the product's
//! review count and rating kept right, and the newest-first listing.

use super::support::{
    all, create_named_user, create_product, create_review, create_review_at, create_user, get, new_review, now, page,
};
use crate::CatalogStores;
use chrono::Duration;
use std::sync::Arc;
use storefront_app::StoreError;
use storefront_app::ports::{NewReview, ProfileChanges};
use storefront_domain::{ProductId, Rating, ReviewBody, ReviewId, UserName};
use uuid::Uuid;

fn rating(value: i64) -> Rating {
    Rating::parse(value).unwrap()
}

pub async fn creating_a_review_returns_it_with_its_authors_name_and_no_verified_purchase(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_named_user(&stores, "grace@example.com", "Grace Hopper").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let new = NewReview { body: ReviewBody::parse("Sturdy pages.").unwrap(), ..new_review(product.id, author.id, 4) };

    let review = stores.reviews.create(new.clone()).await.unwrap();

    assert_eq!(review.id, new.id);
    assert_eq!(review.product_id, product.id);
    assert_eq!((review.author.id, review.author.name.as_str()), (author.id, "Grace Hopper"));
    assert_eq!((review.rating, review.body.as_str()), (4, "Sturdy pages."));
    assert!(!review.verified_purchase, "no order backs this review");
    assert_eq!((review.created_at, review.updated_at), (new.created_at, new.created_at));
    assert_eq!(stores.reviews.get(review.id).await.unwrap(), Some(review));
}

pub async fn getting_an_unknown_review_finds_nothing(stores: CatalogStores) {
    assert_eq!(stores.reviews.get(ReviewId(Uuid::now_v7())).await.unwrap(), None);
}

pub async fn a_second_review_by_the_same_author_returns_already_exists(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let other = create_product(&stores, owner.id, "Pencil").await;
    let first = create_review(&stores, product.id, author.id, 5).await;

    let err = stores.reviews.create(new_review(product.id, author.id, 1)).await.unwrap_err();

    assert_eq!(err, StoreError::AlreadyExists);
    let listed = stores.reviews.list_for_product(product.id, all()).await.unwrap();
    assert_eq!((listed.total, listed.items), (1, vec![first]));
    let seen = get(&stores, product.id, None).await;
    assert_eq!((seen.review_count, seen.rating_avg), (1, Some(5.0)), "the refused review counts for nothing");
    create_review(&stores, other.id, author.id, 2).await;
}

pub async fn eight_concurrent_reviews_by_one_author_let_exactly_one_succeed(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    for round in 0..3 {
        let product = create_product(&stores, owner.id, &format!("Notebook {round}")).await;
        let tasks: Vec<_> = (1..=8)
            .map(|n| {
                let reviews = Arc::clone(&stores.reviews);
                let review = new_review(product.id, author.id, 1 + n % 5);
                tokio::spawn(async move { reviews.create(review).await })
            })
            .collect();
        let results: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();

        let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(created.len(), 1, "round {round}: {results:?}");
        assert!(
            results.iter().filter(|r| r.is_err()).all(|r| r.as_ref().err() == Some(&StoreError::AlreadyExists)),
            "round {round}: {results:?}"
        );
        let seen = get(&stores, product.id, None).await;
        assert_eq!((seen.review_count, seen.rating_avg), (1, Some(f64::from(created[0].rating))), "round {round}");
    }
}

pub async fn concurrent_reviews_by_different_authors_are_all_counted(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let mut reviews = Vec::new();
    for n in 0..10i64 {
        let author = create_user(&stores, &format!("author{n}@example.com")).await;
        reviews.push(new_review(product.id, author.id, if n < 5 { 5 } else { 2 }));
    }

    let tasks: Vec<_> = reviews
        .into_iter()
        .map(|review| {
            let store = Arc::clone(&stores.reviews);
            tokio::spawn(async move { store.create(review).await })
        })
        .collect();
    for result in futures::future::join_all(tasks).await {
        result.unwrap().unwrap();
    }

    let seen = get(&stores, product.id, None).await;
    assert_eq!((seen.review_count, seen.rating_avg), (10, Some(3.5)));
}

pub async fn reviewing_an_unknown_product_returns_not_found(stores: CatalogStores) {
    let author = create_user(&stores, "grace@example.com").await;
    let unknown = ProductId(Uuid::now_v7());

    let err = stores.reviews.create(new_review(unknown, author.id, 3)).await.unwrap_err();

    assert_eq!(err, StoreError::NotFound);
    assert_eq!(stores.reviews.list_for_product(unknown, all()).await.unwrap().total, 0);
}

pub async fn the_review_count_and_rating_follow_creates_updates_and_deletes(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let alan = create_user(&stores, "alan@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let other = create_product(&stores, owner.id, "Pencil").await;
    let aggregate = |p: storefront_domain::Product| (p.review_count, p.rating_avg);

    let five = create_review(&stores, product.id, grace.id, 5).await;
    assert_eq!(aggregate(get(&stores, product.id, None).await), (1, Some(5.0)));
    let four = create_review(&stores, product.id, alan.id, 4).await;
    assert_eq!(aggregate(get(&stores, product.id, None).await), (2, Some(4.5)));

    stores.reviews.update(four.id, Some(rating(1)), None, now()).await.unwrap();
    assert_eq!(aggregate(get(&stores, product.id, None).await), (2, Some(3.0)));

    stores.reviews.update(four.id, None, Some(ReviewBody::parse("Changed my mind").unwrap()), now()).await.unwrap();
    assert_eq!(aggregate(get(&stores, product.id, None).await), (2, Some(3.0)), "a new body keeps the rating");

    stores.reviews.delete(four.id, now()).await.unwrap();
    assert_eq!(aggregate(get(&stores, product.id, None).await), (1, Some(5.0)));
    stores.reviews.delete(five.id, now()).await.unwrap();
    assert_eq!(aggregate(get(&stores, product.id, None).await), (0, None));
    assert_eq!(aggregate(get(&stores, other.id, None).await), (0, None), "other products were never touched");
}

pub async fn the_rating_is_the_mean_rounded_half_up_to_one_decimal(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let mut authors = Vec::new();
    for n in 0..4 {
        authors.push(create_user(&stores, &format!("author{n}@example.com")).await.id);
    }
    // 10/3 = 3.33 -> 3.3; 11/3 = 3.67 -> 3.7; 13/4 = 3.25 -> 3.3.
    for (name, ratings, expected) in
        [("Thirds down", vec![3, 3, 4], 3.3), ("Thirds up", vec![3, 4, 4], 3.7), ("Quarter", vec![3, 3, 3, 4], 3.3)]
    {
        let product = create_product(&stores, owner.id, name).await;
        for (author, value) in authors.iter().zip(&ratings) {
            create_review(&stores, product.id, *author, *value).await;
        }
        let seen = get(&stores, product.id, None).await;
        assert_eq!((seen.review_count, seen.rating_avg), (ratings.len() as u64, Some(expected)), "{name}");
    }
}

pub async fn updating_a_review_changes_the_given_fields_and_bumps_updated_at(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let review = create_review(&stores, product.id, author.id, 4).await;
    let later = review.updated_at + Duration::seconds(30);

    let updated = stores
        .reviews
        .update(review.id, Some(rating(2)), Some(ReviewBody::parse("Pages tear.").unwrap()), later)
        .await
        .unwrap();

    assert_eq!((updated.rating, updated.body.as_str(), updated.updated_at), (2, "Pages tear.", later));
    assert_eq!((updated.id, updated.created_at, &updated.author), (review.id, review.created_at, &review.author));
    assert_eq!(stores.reviews.get(review.id).await.unwrap(), Some(updated.clone()), "the change is stored");

    let even_later = later + Duration::seconds(30);
    let touched = stores.reviews.update(review.id, None, None, even_later).await.unwrap();
    assert_eq!((touched.rating, touched.body, touched.updated_at), (2, updated.body, even_later));
}

pub async fn updating_or_deleting_an_unknown_review_returns_not_found(stores: CatalogStores) {
    let unknown = ReviewId(Uuid::now_v7());

    assert_eq!(stores.reviews.update(unknown, Some(rating(3)), None, now()).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(stores.reviews.delete(unknown, now()).await.unwrap_err(), StoreError::NotFound);
}

pub async fn a_deleted_review_is_gone_and_its_author_may_review_again(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let review = create_review(&stores, product.id, author.id, 4).await;

    stores.reviews.delete(review.id, now()).await.unwrap();

    assert_eq!(stores.reviews.get(review.id).await.unwrap(), None);
    assert_eq!(stores.reviews.delete(review.id, now()).await.unwrap_err(), StoreError::NotFound, "a second delete");
    create_review(&stores, product.id, author.id, 2).await;
}

pub async fn a_review_shows_its_authors_current_name(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let author = create_named_user(&stores, "grace@example.com", "Grace Murray").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let review = create_review(&stores, product.id, author.id, 4).await;

    let renamed = ProfileChanges { name: Some(UserName::parse("Grace Hopper").unwrap()), email: None };
    stores.users.update_profile(author.id, renamed, now()).await.unwrap();

    assert_eq!(stores.reviews.get(review.id).await.unwrap().unwrap().author.name, "Grace Hopper");
    let listed = stores.reviews.list_for_product(product.id, all()).await.unwrap();
    assert_eq!(listed.items[0].author.name, "Grace Hopper");
}

pub async fn reviews_are_listed_newest_first_then_by_id_and_paginated(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let other = create_product(&stores, owner.id, "Pencil").await;
    let t0 = now();
    let mut authors = Vec::new();
    for n in 0..5 {
        authors.push(create_user(&stores, &format!("author{n}@example.com")).await.id);
    }
    // Two reviews share a creation time: the larger id comes first.
    let times = [t0, t0 + Duration::minutes(2), t0 + Duration::minutes(1), t0 + Duration::minutes(1)];
    let mut created = Vec::new();
    for (author, at) in authors.iter().zip(times) {
        created.push(create_review_at(&stores, product.id, *author, at).await);
    }
    create_review_at(&stores, other.id, authors[4], t0 + Duration::minutes(5)).await;
    let mut expected = created.clone();
    expected.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));

    let listed = stores.reviews.list_for_product(product.id, all()).await.unwrap();
    assert_eq!((listed.total, &listed.items), (4, &expected));
    assert_eq!(listed.items[0].id, created[1].id, "the newest first");
    assert_eq!(listed.items[3].id, created[0].id, "the oldest last");

    let mut paged = Vec::new();
    for offset in [0, 3] {
        let page = stores.reviews.list_for_product(product.id, page(3, offset)).await.unwrap();
        assert_eq!(page.total, 4);
        paged.extend(page.items);
    }
    assert_eq!(paged, expected);
    let beyond = stores.reviews.list_for_product(product.id, page(3, 9)).await.unwrap();
    assert_eq!((beyond.items.len(), beyond.total), (0, 4));
}
