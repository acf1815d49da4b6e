//! Contract of `OrderRepository::list`: newest first (created_at, then id, descending),
//! filtered by buyer and status, paginated with the total of all matches.

use super::support::{
    LOW_STOCK_RULE, all, create_product, create_user, every_order, move_along, new_order_at, now, page, place_at,
};
use crate::OrderStores;
use chrono::Duration;
use storefront_app::orders::place_order;
use storefront_app::ports::OrderFilter;
use storefront_domain::{Order, OrderId, OrderStatus, UserId};

fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(|o| o.id).collect()
}

async fn listed(stores: &OrderStores, user_id: Option<UserId>, status: Option<OrderStatus>) -> (u64, Vec<OrderId>) {
    let page = stores.orders.list(OrderFilter { user_id, status }, all()).await.unwrap();
    (page.total, ids(&page.items))
}

pub async fn orders_are_listed_newest_first_then_by_id_descending(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 100).await;
    let base = now();
    let oldest = place_at(&stores, buyer.id, &[(pen.id, 1)], base - Duration::hours(2)).await;
    // Two orders at the same instant, the first written with the larger id.
    let mut tied = [new_order_at(buyer.id, &[(pen.id, 1)], base), new_order_at(buyer.id, &[(pen.id, 1)], base)];
    tied.sort_by_key(|o| std::cmp::Reverse(o.id));
    let mut tied_ids = Vec::new();
    for order in tied {
        tied_ids.push(place_order(stores.orders.as_ref(), &order, LOW_STOCK_RULE).await.unwrap().unwrap().id);
    }
    let newest = place_at(&stores, buyer.id, &[(pen.id, 1)], base + Duration::seconds(1)).await;
    let middle = place_at(&stores, buyer.id, &[(pen.id, 1)], base - Duration::hours(1)).await;

    let seen = every_order(&stores).await;

    assert_eq!(ids(&seen), vec![newest.id, tied_ids[0], tied_ids[1], middle.id, oldest.id]);
    assert_eq!(seen[4], oldest, "listed orders are whole, as get returns them");
}

pub async fn the_listing_filters_by_buyer_and_by_status_and_combines_both(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let alan = create_user(&stores, "alan@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 100).await;
    let base = now() - Duration::hours(1);
    let at = |minutes: i64| base + Duration::minutes(minutes);
    let ada_pending = place_at(&stores, ada.id, &[(pen.id, 1)], at(1)).await;
    let ada_paid = place_at(&stores, ada.id, &[(pen.id, 1)], at(2)).await;
    let grace_paid = place_at(&stores, grace.id, &[(pen.id, 1)], at(3)).await;
    let grace_cancelled = place_at(&stores, grace.id, &[(pen.id, 1)], at(4)).await;
    let ada_shipped = place_at(&stores, ada.id, &[(pen.id, 1)], at(5)).await;
    move_along(&stores, ada_paid.id, &[OrderStatus::Paid]).await;
    move_along(&stores, grace_paid.id, &[OrderStatus::Paid]).await;
    move_along(&stores, grace_cancelled.id, &[OrderStatus::Cancelled]).await;
    move_along(&stores, ada_shipped.id, &[OrderStatus::Paid, OrderStatus::Shipped]).await;

    assert_eq!(
        listed(&stores, None, None).await,
        (5, vec![ada_shipped.id, grace_cancelled.id, grace_paid.id, ada_paid.id, ada_pending.id])
    );
    assert_eq!(listed(&stores, Some(ada.id), None).await, (3, vec![ada_shipped.id, ada_paid.id, ada_pending.id]));
    assert_eq!(listed(&stores, Some(grace.id), None).await, (2, vec![grace_cancelled.id, grace_paid.id]));
    assert_eq!(listed(&stores, Some(alan.id), None).await, (0, vec![]));
    assert_eq!(listed(&stores, None, Some(OrderStatus::Paid)).await, (2, vec![grace_paid.id, ada_paid.id]));
    assert_eq!(listed(&stores, None, Some(OrderStatus::Delivered)).await, (0, vec![]));
    assert_eq!(listed(&stores, Some(ada.id), Some(OrderStatus::Paid)).await, (1, vec![ada_paid.id]));
    assert_eq!(listed(&stores, Some(grace.id), Some(OrderStatus::Pending)).await, (0, vec![]));
    let paid = stores.orders.list(OrderFilter { user_id: None, status: Some(OrderStatus::Paid) }, all()).await.unwrap();
    assert!(paid.items.iter().all(|o| o.status == OrderStatus::Paid));
}

pub async fn order_pages_do_not_overlap_and_carry_the_total_of_all_matches(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let other = create_user(&stores, "other@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 100).await;
    let base = now() - Duration::hours(1);
    for minute in 0..7 {
        place_at(&stores, buyer.id, &[(pen.id, 1)], base + Duration::minutes(minute)).await;
        place_at(&stores, other.id, &[(pen.id, 1)], base + Duration::minutes(minute)).await;
    }
    let filter = OrderFilter { user_id: Some(buyer.id), status: None };
    let whole = stores.orders.list(filter, all()).await.unwrap();

    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        let one = stores.orders.list(filter, page(3, offset)).await.unwrap();
        assert_eq!(one.total, 7, "offset {offset}");
        paged.extend(one.items);
    }
    let beyond = stores.orders.list(filter, page(3, 7)).await.unwrap();

    assert_eq!(whole.total, 7);
    assert_eq!(paged, whole.items);
    assert_eq!((beyond.total, beyond.items), (7, vec![]));
}
