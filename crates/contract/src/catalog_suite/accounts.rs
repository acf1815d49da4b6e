//! Contract of deleting a user, as the catalogue sees it: its products (with their likes,
//! reviews and links), its likes and its reviews are gone, and other products' counts
//! follow.

use super::support::{all, create_category, create_product, create_review, create_user, get, like, new_product, now};
use crate::CatalogStores;
use storefront_app::ports::{AuditContext, NewProduct};
use storefront_domain::{ProductFilter, ProductSort, UserId};

/// How the test deletes the user: both paths must do the same to the catalogue.
#[derive(Debug, Clone, Copy)]
enum DeletePath {
    Admin,
    SelfService,
}

async fn delete_user(stores: &CatalogStores, path: DeletePath, user: UserId, actor: UserId) {
    match path {
        DeletePath::Admin => stores.user_admin.delete(user, AuditContext { actor, now: now() }).await.unwrap(),
        DeletePath::SelfService => stores.users.delete(user).await.unwrap(),
    }
}

async fn deleting_a_user_removes_its_catalogue(stores: CatalogStores, path: DeletePath) {
    let admin = create_user(&stores, "root@example.com").await;
    let doomed = create_user(&stores, "doomed@example.com").await;
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let theirs = stores
        .products
        .create(NewProduct { category_ids: vec![books.id], ..new_product(doomed.id, "Theirs") })
        .await
        .unwrap();
    let also_theirs = create_product(&stores, doomed.id, "Also theirs").await;
    let kept = stores
        .products
        .create(NewProduct { category_ids: vec![books.id], ..new_product(ada.id, "Kept") })
        .await
        .unwrap();
    // Others' likes and reviews on the doomed user's products…
    like(&stores, theirs.id, grace.id).await;
    like(&stores, also_theirs.id, grace.id).await;
    let review_of_theirs = create_review(&stores, theirs.id, grace.id, 5).await;
    // …and the doomed user's own likes and reviews on others' products.
    like(&stores, kept.id, doomed.id).await;
    like(&stores, kept.id, grace.id).await;
    let their_review = create_review(&stores, kept.id, doomed.id, 1).await;
    let graces_review = create_review(&stores, kept.id, grace.id, 4).await;
    let before = get(&stores, kept.id, None).await;
    assert_eq!((before.like_count, before.review_count, before.rating_avg), (2, 2, Some(2.5)));

    delete_user(&stores, path, doomed.id, admin.id).await;

    assert_eq!(stores.products.get(theirs.id, None).await.unwrap(), None, "{path:?}");
    assert_eq!(stores.products.get(also_theirs.id, None).await.unwrap(), None, "{path:?}");
    let listed =
        stores.products.list(&ProductFilter::default(), ProductSort::default(), all(), None, None).await.unwrap();
    assert_eq!(listed.items.iter().map(|p| p.id).collect::<Vec<_>>(), vec![kept.id], "{path:?}");
    let owned = ProductFilter { owner_id: Some(doomed.id), ..Default::default() };
    assert_eq!(stores.products.list(&owned, ProductSort::default(), all(), None, None).await.unwrap().total, 0);

    let after = get(&stores, kept.id, None).await;
    assert_eq!((after.like_count, after.review_count, after.rating_avg), (1, 1, Some(4.0)), "{path:?}");
    let reviews = stores.reviews.list_for_product(kept.id, all()).await.unwrap();
    assert_eq!((reviews.total, reviews.items), (1, vec![graces_review]), "{path:?}");
    assert_eq!(stores.reviews.get(their_review.id).await.unwrap(), None, "{path:?}");
    assert_eq!(stores.reviews.get(review_of_theirs.id).await.unwrap(), None, "{path:?}");

    let graces_likes = stores.products.liked_by(grace.id, all()).await.unwrap();
    assert_eq!(graces_likes.items.iter().map(|p| p.id).collect::<Vec<_>>(), vec![kept.id], "{path:?}");
    assert_eq!(graces_likes.total, 1, "{path:?}");
    assert_eq!(stores.products.liked_by(doomed.id, all()).await.unwrap().total, 0, "{path:?}");
    assert_eq!(stores.categories.list().await.unwrap()[0].product_count, 1, "{path:?}");
}

pub async fn deleting_a_user_as_an_admin_removes_its_products_likes_and_reviews_and_fixes_other_counts(
    stores: CatalogStores,
) {
    deleting_a_user_removes_its_catalogue(stores, DeletePath::Admin).await;
}

pub async fn deleting_ones_own_account_removes_its_products_likes_and_reviews_and_fixes_other_counts(
    stores: CatalogStores,
) {
    deleting_a_user_removes_its_catalogue(stores, DeletePath::SelfService).await;
}

pub async fn deleting_a_user_leaves_other_users_catalogue_alone(stores: CatalogStores) {
    let admin = create_user(&stores, "root@example.com").await;
    let doomed = create_user(&stores, "doomed@example.com").await;
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let product = create_product(&stores, ada.id, "Notebook").await;
    like(&stores, product.id, grace.id).await;
    create_review(&stores, product.id, grace.id, 3).await;
    let before = get(&stores, product.id, Some(grace.id)).await;

    delete_user(&stores, DeletePath::Admin, doomed.id, admin.id).await;

    assert_eq!(get(&stores, product.id, Some(grace.id)).await, before);
    assert_eq!(stores.reviews.list_for_product(product.id, all()).await.unwrap().total, 1);
    assert_eq!(stores.products.liked_by(grace.id, all()).await.unwrap().total, 1);
}
