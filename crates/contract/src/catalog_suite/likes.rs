//! Contract of likes: `ProductRepository::set_like` (idempotent and race-free), the like
//! count and `liked_by_me` of a product, and `liked_by`.

use super::support::{all, create_product, create_user, get, like, names, now, page};
use crate::CatalogStores;
use chrono::Duration;
use std::sync::Arc;
use storefront_app::StoreError;
use storefront_domain::{ProductFilter, ProductId, ProductSort, UserId};
use uuid::Uuid;

pub async fn liking_twice_counts_once(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;

    like(&stores, product.id, fan.id).await;
    like(&stores, product.id, fan.id).await;

    assert_eq!(get(&stores, product.id, None).await.like_count, 1);
    assert_eq!(stores.products.liked_by(fan.id, all()).await.unwrap().total, 1);
}

pub async fn likes_by_different_users_are_each_counted(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let other = create_product(&stores, owner.id, "Pencil").await;

    for n in 0..3 {
        let fan = create_user(&stores, &format!("fan{n}@example.com")).await;
        like(&stores, product.id, fan.id).await;
    }

    assert_eq!(get(&stores, product.id, None).await.like_count, 3);
    assert_eq!(get(&stores, other.id, None).await.like_count, 0, "likes count for their own product only");
}

pub async fn liked_by_me_is_true_only_for_a_viewer_who_likes_the_product(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    like(&stores, product.id, fan.id).await;

    assert!(get(&stores, product.id, Some(fan.id)).await.liked_by_me);
    assert!(!get(&stores, product.id, Some(owner.id)).await.liked_by_me);
    assert!(!get(&stores, product.id, None).await.liked_by_me, "anonymous viewers like nothing");

    assert!(listed_as_liked(&stores, Some(fan.id)).await);
    assert!(!listed_as_liked(&stores, Some(owner.id)).await);
    assert!(!listed_as_liked(&stores, None).await);
}

/// Whether the only product is listed as liked by `viewer`.
async fn listed_as_liked(stores: &CatalogStores, viewer: Option<UserId>) -> bool {
    let page =
        stores.products.list(&ProductFilter::default(), ProductSort::default(), all(), None, viewer).await.unwrap();
    page.items[0].liked_by_me
}

pub async fn unliking_removes_the_like_and_is_idempotent(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    let other_fan = create_user(&stores, "alan@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    like(&stores, product.id, fan.id).await;
    like(&stores, product.id, other_fan.id).await;

    for _ in 0..2 {
        stores.products.set_like(product.id, fan.id, false, now()).await.unwrap();
    }

    let seen = get(&stores, product.id, Some(fan.id)).await;
    assert_eq!((seen.like_count, seen.liked_by_me), (1, false));
    assert_eq!(stores.products.liked_by(fan.id, all()).await.unwrap().total, 0);
    assert!(get(&stores, product.id, Some(other_fan.id)).await.liked_by_me, "another user's like stays");
    // Unliking what was never liked is fine too.
    stores.products.set_like(product.id, owner.id, false, now()).await.unwrap();
    assert_eq!(get(&stores, product.id, None).await.like_count, 1);
}

pub async fn liking_or_unliking_an_unknown_product_returns_not_found(stores: CatalogStores) {
    let fan = create_user(&stores, "grace@example.com").await;

    for liked in [true, false] {
        let err = stores.products.set_like(ProductId(Uuid::now_v7()), fan.id, liked, now()).await.unwrap_err();
        assert_eq!(err, StoreError::NotFound, "liked = {liked}");
    }
    assert_eq!(stores.products.liked_by(fan.id, all()).await.unwrap().total, 0);
}

pub async fn sixteen_concurrent_likes_by_one_user_count_once(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    for round in 0..3 {
        let product = create_product(&stores, owner.id, &format!("Notebook {round}")).await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let products = Arc::clone(&stores.products);
                tokio::spawn(async move { products.set_like(product.id, fan.id, true, now()).await })
            })
            .collect();
        for result in futures::future::join_all(tasks).await {
            result.unwrap().unwrap();
        }

        let seen = get(&stores, product.id, Some(fan.id)).await;
        assert_eq!((seen.like_count, seen.liked_by_me), (1, true), "round {round}");
        assert_eq!(stores.products.liked_by(fan.id, all()).await.unwrap().total, round + 1);
    }
}

pub async fn concurrent_likes_by_different_users_all_count(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let product = create_product(&stores, owner.id, "Notebook").await;
    let mut fans = Vec::new();
    for n in 0..16 {
        fans.push(create_user(&stores, &format!("fan{n}@example.com")).await.id);
    }

    let tasks: Vec<_> = fans
        .iter()
        .map(|&fan| {
            let products = Arc::clone(&stores.products);
            tokio::spawn(async move { products.set_like(product.id, fan, true, now()).await })
        })
        .collect();
    for result in futures::future::join_all(tasks).await {
        result.unwrap().unwrap();
    }

    assert_eq!(get(&stores, product.id, None).await.like_count, 16);
}

pub async fn liked_products_are_listed_most_recently_liked_first_and_paginated(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    let other_fan = create_user(&stores, "alan@example.com").await;
    let t0 = now();
    // Created in one order, liked in another.
    let a = create_product(&stores, owner.id, "A").await;
    let b = create_product(&stores, owner.id, "B").await;
    let c = create_product(&stores, owner.id, "C").await;
    let d = create_product(&stores, owner.id, "D").await;
    for (product, minutes) in [(b.id, 1), (d.id, 2), (a.id, 3)] {
        stores.products.set_like(product, fan.id, true, t0 + Duration::minutes(minutes)).await.unwrap();
    }
    stores.products.set_like(c.id, other_fan.id, true, t0 + Duration::minutes(4)).await.unwrap();

    let liked = stores.products.liked_by(fan.id, all()).await.unwrap();
    assert_eq!(names(&liked.items), vec!["A", "D", "B"]);
    assert_eq!(liked.total, 3);
    assert!(liked.items.iter().all(|p| p.liked_by_me), "the listed products are seen by the user who likes them");
    assert_eq!(liked.items[0].like_count, 1);

    let second = stores.products.liked_by(fan.id, page(2, 2)).await.unwrap();
    assert_eq!((names(&second.items), second.total), (vec!["B"], 3));
    let beyond = stores.products.liked_by(fan.id, page(2, 10)).await.unwrap();
    assert_eq!((beyond.items.len(), beyond.total), (0, 3));
    assert_eq!(stores.products.liked_by(owner.id, all()).await.unwrap().total, 0);
}

pub async fn liking_an_already_liked_product_again_keeps_its_place_in_the_liked_list(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    let t0 = now();
    let first = create_product(&stores, owner.id, "First").await;
    let second = create_product(&stores, owner.id, "Second").await;
    stores.products.set_like(first.id, fan.id, true, t0).await.unwrap();
    stores.products.set_like(second.id, fan.id, true, t0 + Duration::minutes(1)).await.unwrap();

    stores.products.set_like(first.id, fan.id, true, t0 + Duration::minutes(2)).await.unwrap();

    let liked = stores.products.liked_by(fan.id, all()).await.unwrap();
    assert_eq!(names(&liked.items), vec!["Second", "First"], "a repeated like changes nothing");
}
