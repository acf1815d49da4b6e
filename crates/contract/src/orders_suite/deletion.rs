//! Contract of orders outliving what they refer to: a deleted buyer's orders stay without a
//! `user_id`, a deleted product's order lines keep their snapshots.

use super::support::{create_product, create_user, every_order, move_along, now, place_ok, stock_of};
use crate::OrderStores;
use storefront_app::ports::{AuditContext, OrderFilter};
use storefront_domain::{Order, OrderStatus, UserId};

/// How the test deletes the buyer: both paths must do the same to its orders.
#[derive(Debug, Clone, Copy)]
enum DeletePath {
    Admin,
    SelfService,
}

async fn delete_user(stores: &OrderStores, path: DeletePath, user: UserId, actor: UserId) {
    match path {
        DeletePath::Admin => stores.user_admin.delete(user, AuditContext { actor, now: now() }).await.unwrap(),
        DeletePath::SelfService => stores.users.delete(user).await.unwrap(),
    }
}

async fn deleting_a_buyer_keeps_its_orders(stores: OrderStores, path: DeletePath) {
    let seller = create_user(&stores, "seller@example.com").await;
    let doomed = create_user(&stores, "doomed@example.com").await;
    let other = create_user(&stores, "other@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 20).await;
    let pending = place_ok(&stores, doomed.id, &[(pen.id, 2)]).await;
    let paid = place_ok(&stores, doomed.id, &[(pen.id, 3)]).await;
    let paid = move_along(&stores, paid.id, &[OrderStatus::Paid]).await;
    let others = place_ok(&stores, other.id, &[(pen.id, 1)]).await;

    delete_user(&stores, path, doomed.id, seller.id).await;

    let orphan = |order: &Order| Order { user_id: None, ..order.clone() };
    assert_eq!(stores.orders.get(pending.id).await.unwrap(), Some(orphan(&pending)), "{path:?}");
    assert_eq!(stores.orders.get(paid.id).await.unwrap(), Some(orphan(&paid)), "{path:?}");
    assert_eq!(stores.orders.get(others.id).await.unwrap(), Some(others.clone()), "{path:?}");
    assert_eq!(every_order(&stores).await.len(), 3, "{path:?}");
    let theirs =
        stores.orders.list(OrderFilter { user_id: Some(doomed.id), status: None }, super::support::all()).await;
    assert_eq!(theirs.unwrap().total, 0, "{path:?}");
    assert!(!stores.orders.has_bought(doomed.id, pen.id).await.unwrap(), "{path:?}");
    assert_eq!(stock_of(&stores, pen.id).await, 14, "{path:?}: deleting a buyer gives no stock back");
    let stats = stores.orders.stats(5, now()).await.unwrap();
    assert_eq!((stats.revenue_cents, stats.units_sold), (300, 3), "{path:?}: its sales still count");

    let shipped = move_along(&stores, paid.id, &[OrderStatus::Shipped]).await;
    assert_eq!((shipped.status, shipped.user_id), (OrderStatus::Shipped, None), "{path:?}: it can still be handled");
    move_along(&stores, pending.id, &[OrderStatus::Cancelled]).await;
    assert_eq!(stock_of(&stores, pen.id).await, 16, "{path:?}");
}

pub async fn deleting_a_buyer_as_an_admin_keeps_its_orders_without_a_user_id(stores: OrderStores) {
    deleting_a_buyer_keeps_its_orders(stores, DeletePath::Admin).await;
}

pub async fn deleting_ones_own_account_keeps_ones_orders_without_a_user_id(stores: OrderStores) {
    deleting_a_buyer_keeps_its_orders(stores, DeletePath::SelfService).await;
}

pub async fn deleting_a_product_keeps_the_snapshot_lines_of_its_orders(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let gone = create_product(&stores, seller.id, "Gone", 1_250, 10).await;
    let kept = create_product(&stores, seller.id, "Kept", 300, 10).await;
    let order = place_ok(&stores, buyer.id, &[(gone.id, 2), (kept.id, 1)]).await;
    let paid = place_ok(&stores, buyer.id, &[(gone.id, 1)]).await;
    let paid = move_along(&stores, paid.id, &[OrderStatus::Paid]).await;

    stores.products.delete(gone.id).await.unwrap();

    assert_eq!(stores.orders.get(order.id).await.unwrap(), Some(order.clone()));
    assert_eq!(stores.orders.get(paid.id).await.unwrap(), Some(paid.clone()));
    assert_eq!(every_order(&stores).await, vec![paid, order]);
    let stats = stores.orders.stats(5, now()).await.unwrap();
    assert_eq!((stats.revenue_cents, stats.units_sold, stats.products_total), (1_250, 1, 1));
}

pub async fn deleting_a_seller_removes_its_products_but_keeps_the_order_lines_that_sold_them(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let other_seller = create_user(&stores, "other-seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let theirs = create_product(&stores, seller.id, "Theirs", 500, 10).await;
    let kept = create_product(&stores, other_seller.id, "Kept", 300, 10).await;
    let order = place_ok(&stores, buyer.id, &[(theirs.id, 2), (kept.id, 1)]).await;

    stores.users.delete(seller.id).await.unwrap();

    assert_eq!(stores.products.get(theirs.id, None).await.unwrap(), None);
    assert_eq!(stores.orders.get(order.id).await.unwrap(), Some(order.clone()));
    move_along(&stores, order.id, &[OrderStatus::Cancelled]).await;
    assert_eq!(stock_of(&stores, kept.id).await, 10);
}
