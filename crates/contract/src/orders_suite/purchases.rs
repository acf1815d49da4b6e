//! Contract of verified purchases: `OrderRepository::has_bought`, and a review's
//! `verified_purchase`, which follows it as orders are placed and cancelled.

use super::support::{all, create_product, create_user, move_along, place_ok};
use crate::OrderStores;
use crate::catalog_suite::support::new_review;
use storefront_domain::OrderStatus::{Cancelled, Delivered, Paid, Shipped};
use storefront_domain::{ProductId, ReviewId, UserId};

async fn bought(stores: &OrderStores, user: UserId, product: ProductId) -> bool {
    stores.orders.has_bought(user, product).await.unwrap()
}

pub async fn a_buyer_has_bought_exactly_the_products_of_its_orders(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let other = create_user(&stores, "other@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 10).await;
    let ink = create_product(&stores, seller.id, "Ink", 100, 10).await;
    let paper = create_product(&stores, seller.id, "Paper", 100, 10).await;
    assert!(!bought(&stores, buyer.id, pen.id).await);

    place_ok(&stores, buyer.id, &[(pen.id, 1), (ink.id, 2)]).await;
    place_ok(&stores, other.id, &[(paper.id, 1)]).await;

    assert!(bought(&stores, buyer.id, pen.id).await);
    assert!(bought(&stores, buyer.id, ink.id).await);
    assert!(!bought(&stores, buyer.id, paper.id).await, "another buyer's order");
    assert!(!bought(&stores, other.id, pen.id).await);
    assert!(bought(&stores, other.id, paper.id).await);
}

pub async fn an_order_stays_a_purchase_through_delivery_but_not_after_cancellation(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 10).await;
    let ink = create_product(&stores, seller.id, "Ink", 100, 10).await;
    let delivered = place_ok(&stores, buyer.id, &[(pen.id, 1)]).await;
    move_along(&stores, delivered.id, &[Paid, Shipped, Delivered]).await;
    assert!(bought(&stores, buyer.id, pen.id).await);

    let cancelled = place_ok(&stores, buyer.id, &[(ink.id, 1)]).await;
    move_along(&stores, cancelled.id, &[Paid, Cancelled]).await;
    assert!(!bought(&stores, buyer.id, ink.id).await, "a cancelled order is no purchase");

    let again = place_ok(&stores, buyer.id, &[(ink.id, 1), (pen.id, 1)]).await;
    assert!(bought(&stores, buyer.id, ink.id).await, "another order that is not cancelled");
    move_along(&stores, again.id, &[Cancelled]).await;
    assert!(!bought(&stores, buyer.id, ink.id).await);
    assert!(bought(&stores, buyer.id, pen.id).await, "the delivered order still counts");
}

async fn verified(stores: &OrderStores, review: ReviewId, product: ProductId) -> bool {
    let got = stores.reviews.get(review).await.unwrap().unwrap().verified_purchase;
    let listed = stores.reviews.list_for_product(product, all()).await.unwrap();
    let in_list = listed.items.iter().find(|r| r.id == review).unwrap().verified_purchase;
    assert_eq!(got, in_list, "get and the listing agree");
    got
}

pub async fn a_reviews_verified_purchase_follows_its_authors_orders_and_cancellations(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let author = create_user(&stores, "author@example.com").await;
    let bystander = create_user(&stores, "bystander@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 10).await;
    let ink = create_product(&stores, seller.id, "Ink", 100, 10).await;
    let review = stores.reviews.create(new_review(pen.id, author.id, 4)).await.unwrap();
    let other_review = stores.reviews.create(new_review(pen.id, bystander.id, 2)).await.unwrap();
    assert!(!review.verified_purchase);

    place_ok(&stores, author.id, &[(ink.id, 1)]).await;
    assert!(!verified(&stores, review.id, pen.id).await, "an order of another product");
    let order = place_ok(&stores, author.id, &[(pen.id, 1)]).await;
    assert!(verified(&stores, review.id, pen.id).await);
    assert!(!verified(&stores, other_review.id, pen.id).await, "only the author's orders count");

    move_along(&stores, order.id, &[Cancelled]).await;
    assert!(!verified(&stores, review.id, pen.id).await, "the purchase was cancelled");

    place_ok(&stores, author.id, &[(pen.id, 2)]).await;
    let ink_review = stores.reviews.create(new_review(ink.id, author.id, 5)).await.unwrap();
    assert!(ink_review.verified_purchase, "a review written after the purchase is verified at once");
    assert!(verified(&stores, review.id, pen.id).await);
}
