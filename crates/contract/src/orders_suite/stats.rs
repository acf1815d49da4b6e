//! Contract of `OrderRepository::stats`: the counts, the revenue and units of sold orders,
//! the top products and the low-stock list, checked by hand and against a reference
//! computed here from what the other ports show.

use super::support::{
    LOW_STOCK_RULE, all, ascending_ids, create_product, create_user, create_user_at, every_order, move_along,
    new_stocked_product, now, place_at, place_ok, set_stock,
};
use crate::OrderStores;
use chrono::{DateTime, Duration, Utc};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use storefront_app::catalog::stock_change_rule;
use storefront_app::ports::{BusinessStats, LowStockProduct, NewProduct, ProductChanges, TopProduct, UserFilter};
use storefront_domain::OrderStatus::{self, Cancelled, Delivered, Paid, Pending, Shipped};
use storefront_domain::{OrderId, Product, ProductFilter, ProductId, ProductName, ProductSort};

const THRESHOLD: i64 = 5;

async fn stats(stores: &OrderStores, threshold: i64) -> BusinessStats {
    stores.orders.stats(threshold, now()).await.unwrap()
}

async fn every_product(stores: &OrderStores) -> Vec<Product> {
    let listed =
        stores.products.list(&ProductFilter::default(), ProductSort::default(), all(), None, None).await.unwrap();
    assert!(listed.total <= 100, "the tests list at most one page of products");
    listed.items
}

/// What `stats` must answer, computed from the orders, products and users the other
/// methods show.
async fn reference(stores: &OrderStores, threshold: i64, now: DateTime<Utc>) -> BusinessStats {
    let orders = every_order(stores).await;
    let products = every_product(stores).await;
    let users = stores.user_admin.list(&UserFilter::default(), all()).await.unwrap();
    let sold: Vec<_> = orders.iter().filter(|o| matches!(o.status, Paid | Shipped | Delivered)).collect();

    // Per product: units, revenue, and the snapshot name of the newest sold order.
    struct Sold {
        units: i64,
        revenue: i64,
        newest: (DateTime<Utc>, OrderId),
        snapshot: String,
    }
    let mut per_product: BTreeMap<ProductId, Sold> = BTreeMap::new();
    for order in &sold {
        for line in &order.items {
            let key = (order.created_at, order.id);
            let entry = per_product.entry(line.product_id).or_insert(Sold {
                units: 0,
                revenue: 0,
                newest: key,
                snapshot: line.product_name.clone(),
            });
            entry.units += line.quantity;
            entry.revenue += line.line_total_cents;
            if key >= entry.newest {
                entry.newest = key;
                entry.snapshot = line.product_name.clone();
            }
        }
    }
    let mut top_products: Vec<TopProduct> = per_product
        .into_iter()
        .map(|(product_id, sold)| TopProduct {
            product_id,
            name: products.iter().find(|p| p.id == product_id).map_or(sold.snapshot, |p| p.name.clone()),
            units_sold: sold.units,
            revenue_cents: sold.revenue,
        })
        .collect();
    top_products.sort_by_key(|t| (Reverse(t.units_sold), Reverse(t.revenue_cents), t.product_id));
    top_products.truncate(10);

    let mut low_stock: Vec<LowStockProduct> = products
        .iter()
        .filter(|p| p.stock <= threshold)
        .map(|p| LowStockProduct { product_id: p.id, name: p.name.clone(), stock: p.stock })
        .collect();
    low_stock
        .sort_by(|a, b| (a.stock, a.name.as_bytes(), a.product_id).cmp(&(b.stock, b.name.as_bytes(), b.product_id)));
    low_stock.truncate(50);

    BusinessStats {
        users_total: users.total as i64,
        users_new_7d: users.items.iter().filter(|u| u.created_at >= now - Duration::days(7)).count() as i64,
        products_total: products.len() as i64,
        orders_by_status: OrderStatus::ALL
            .into_iter()
            .map(|status| (status, orders.iter().filter(|o| o.status == status).count() as i64))
            .collect(),
        revenue_cents: sold.iter().map(|o| o.total_cents).sum(),
        units_sold: sold.iter().flat_map(|o| &o.items).map(|l| l.quantity).sum(),
        top_products,
        low_stock,
    }
}

pub async fn the_statistics_of_an_empty_store_list_every_status_with_zero(stores: OrderStores) {
    let seen = stats(&stores, THRESHOLD).await;

    assert_eq!(
        seen,
        BusinessStats {
            users_total: 0,
            users_new_7d: 0,
            products_total: 0,
            orders_by_status: OrderStatus::ALL.into_iter().map(|s| (s, 0)).collect(),
            revenue_cents: 0,
            units_sold: 0,
            top_products: vec![],
            low_stock: vec![],
        }
    );
}

pub async fn the_statistics_count_sold_orders_only_and_agree_with_a_reference_computed_from_the_ports(
    stores: OrderStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    create_user_at(&stores, "old@example.com", now() - Duration::days(30)).await;
    let pen = create_product(&stores, seller.id, "Pen", 100, 20).await;
    let ink = create_product(&stores, seller.id, "Ink", 250, 20).await;
    let paper = create_product(&stores, seller.id, "Paper", 75, 50).await;
    let lamp = create_product(&stores, seller.id, "Lamp", 5_000, 3).await;
    let nearly_out = create_product(&stores, seller.id, "Nearly out", 10, 6).await;
    let gone = create_product(&stores, seller.id, "Gone", 999, 10).await;

    let paid = place_ok(&stores, ada.id, &[(pen.id, 2), (ink.id, 1)]).await;
    move_along(&stores, paid.id, &[Paid]).await;
    let shipped = place_ok(&stores, grace.id, &[(pen.id, 1), (paper.id, 10)]).await;
    move_along(&stores, shipped.id, &[Paid, Shipped]).await;
    let delivered = place_ok(&stores, ada.id, &[(ink.id, 4)]).await;
    move_along(&stores, delivered.id, &[Paid, Shipped, Delivered]).await;
    place_ok(&stores, grace.id, &[(pen.id, 5), (nearly_out.id, 2)]).await;
    let cancelled = place_ok(&stores, ada.id, &[(paper.id, 3), (ink.id, 2)]).await;
    move_along(&stores, cancelled.id, &[Cancelled]).await;
    let paid_then_cancelled = place_ok(&stores, ada.id, &[(pen.id, 1)]).await;
    move_along(&stores, paid_then_cancelled.id, &[Paid, Cancelled]).await;
    let of_gone = place_ok(&stores, grace.id, &[(gone.id, 2)]).await;
    move_along(&stores, of_gone.id, &[Paid]).await;
    stores.products.delete(gone.id).await.unwrap();

    let at = now();
    let seen = stores.orders.stats(THRESHOLD, at).await.unwrap();

    assert_eq!((seen.users_total, seen.users_new_7d, seen.products_total), (4, 3, 5));
    assert_eq!(seen.orders_by_status, vec![(Pending, 1), (Paid, 2), (Shipped, 1), (Delivered, 1), (Cancelled, 2)]);
    assert_eq!(seen.revenue_cents, 450 + 850 + 1_000 + 1_998);
    assert_eq!(seen.units_sold, 3 + 11 + 4 + 2);
    let top = |p: ProductId, name: &str, units_sold, revenue_cents| TopProduct {
        product_id: p,
        name: name.into(),
        units_sold,
        revenue_cents,
    };
    assert_eq!(
        seen.top_products,
        vec![
            top(paper.id, "Paper", 10, 750),
            top(ink.id, "Ink", 5, 1_250),
            top(pen.id, "Pen", 3, 300),
            top(gone.id, "Gone", 2, 1_998)
        ]
    );
    assert_eq!(
        seen.low_stock,
        vec![
            LowStockProduct { product_id: lamp.id, name: "Lamp".into(), stock: 3 },
            LowStockProduct { product_id: nearly_out.id, name: "Nearly out".into(), stock: 4 },
        ]
    );
    assert_eq!(seen, reference(&stores, THRESHOLD, at).await);
}

pub async fn the_statistics_count_as_new_the_users_created_in_the_last_seven_days(stores: OrderStores) {
    let base = now();
    for (i, days) in [30, 8, 6, 1, 0].into_iter().enumerate() {
        create_user_at(&stores, &format!("user{i}@example.com"), base - Duration::days(days)).await;
    }

    let seen = stores.orders.stats(THRESHOLD, base + Duration::minutes(1)).await.unwrap();

    assert_eq!((seen.users_total, seen.users_new_7d), (5, 3));
    let later = stores.orders.stats(THRESHOLD, base + Duration::days(6) + Duration::hours(12)).await.unwrap();
    assert_eq!((later.users_total, later.users_new_7d), (5, 1), "only the user created at the first look");
}

pub async fn top_products_are_at_most_ten_by_units_then_revenue_then_product_id(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let ids = ascending_ids(12);
    let mut p: Vec<ProductId> = Vec::new();
    for (i, id) in ids.into_iter().enumerate() {
        let price = if i == 3 { 200 } else { 100 };
        let new = NewProduct { id, ..new_stocked_product(seller.id, &format!("P{i}"), price, 100) };
        p.push(stores.products.create(new).await.unwrap().id);
    }
    let sell = |lines: Vec<(ProductId, i64)>| {
        let stores = &stores;
        async move {
            let order = place_ok(stores, buyer.id, &lines).await;
            move_along(stores, order.id, &[Paid]).await;
        }
    };
    sell(vec![(p[11], 5)]).await;
    sell(vec![(p[3], 3), (p[5], 1)]).await;
    sell(vec![(p[5], 2)]).await;
    // Tied at one unit for 1.00, placed in an order unrelated to their ids.
    sell(vec![(p[10], 1), (p[9], 1), (p[8], 1), (p[7], 1), (p[6], 1)]).await;
    sell(vec![(p[4], 1), (p[2], 1), (p[1], 1), (p[0], 1)]).await;
    // Orders that do not count: pending, and cancelled.
    place_ok(&stores, buyer.id, &[(p[10], 50)]).await;
    let cancelled = place_ok(&stores, buyer.id, &[(p[9], 40)]).await;
    move_along(&stores, cancelled.id, &[Cancelled]).await;

    let seen = stats(&stores, THRESHOLD).await;

    let ranked: Vec<(ProductId, i64, i64)> =
        seen.top_products.iter().map(|t| (t.product_id, t.units_sold, t.revenue_cents)).collect();
    let mut expected = vec![(p[11], 5, 500), (p[3], 3, 600), (p[5], 3, 300)];
    expected.extend([0, 1, 2, 4, 6, 7, 8].map(|i| (p[i], 1, 100)));
    assert_eq!(ranked, expected);
    assert_eq!(seen.top_products[0].name, "P11");
}

pub async fn a_top_product_shows_its_current_name_or_once_deleted_its_latest_snapshot_name(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let renamed = create_product(&stores, seller.id, "Before", 100, 100).await;
    let deleted = create_product(&stores, seller.id, "First name", 100, 100).await;
    let rename = |raw: &str| ProductChanges { name: Some(ProductName::parse(raw).unwrap()), ..Default::default() };
    let base = now() - Duration::hours(1);

    let first = place_at(&stores, buyer.id, &[(renamed.id, 4), (deleted.id, 2)], base).await;
    move_along(&stores, first.id, &[Paid]).await;
    stores.products.update(deleted.id, rename("Second name"), now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
    let second = place_at(&stores, buyer.id, &[(deleted.id, 1)], base + Duration::minutes(1)).await;
    move_along(&stores, second.id, &[Paid, Shipped]).await;
    stores
        .products
        .update(deleted.id, rename("Never sold as this"), now(), &stock_change_rule(LOW_STOCK_RULE))
        .await
        .unwrap();
    stores.products.update(renamed.id, rename("After"), now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
    stores.products.delete(deleted.id).await.unwrap();

    let seen = stats(&stores, THRESHOLD).await;

    let names: Vec<(ProductId, &str)> = seen.top_products.iter().map(|t| (t.product_id, t.name.as_str())).collect();
    assert_eq!(names, vec![(renamed.id, "After"), (deleted.id, "Second name")]);
    assert_eq!((seen.top_products[1].units_sold, seen.top_products[1].revenue_cents), (3, 300));
    assert_eq!(seen.products_total, 1);
}

pub async fn low_stock_lists_products_at_or_below_the_threshold_lowest_first_then_by_name_in_byte_order(
    stores: OrderStores,
) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let twins = ascending_ids(2);
    // Created with the larger id first, so that only the id can order the twins.
    let twin_b = stores
        .products
        .create(NewProduct { id: twins[1], ..new_stocked_product(seller.id, "Twin", 100, 1) })
        .await
        .unwrap();
    let twin_a = stores
        .products
        .create(NewProduct { id: twins[0], ..new_stocked_product(seller.id, "Twin", 100, 1) })
        .await
        .unwrap();
    let lower_b = create_product(&stores, seller.id, "b", 100, 5).await;
    let eclair = create_product(&stores, seller.id, "Éclair", 100, 5).await;
    let upper_b = create_product(&stores, seller.id, "B", 100, 5).await;
    let zed = create_product(&stores, seller.id, "zed", 100, 0).await;
    let apple = create_product(&stores, seller.id, "apple", 100, 3).await;
    create_product(&stores, seller.id, "Above", 100, 6).await;
    let sold_down = create_product(&stores, seller.id, "Sold down", 100, 8).await;
    let restocked = create_product(&stores, seller.id, "Restocked", 100, 2).await;
    place_ok(&stores, buyer.id, &[(sold_down.id, 4)]).await;
    set_stock(&stores, restocked.id, 40).await;

    let seen = stats(&stores, THRESHOLD).await;

    let low: Vec<(ProductId, &str, i64)> =
        seen.low_stock.iter().map(|l| (l.product_id, l.name.as_str(), l.stock)).collect();
    assert_eq!(
        low,
        vec![
            (zed.id, "zed", 0),
            (twin_a.id, "Twin", 1),
            (twin_b.id, "Twin", 1),
            (apple.id, "apple", 3),
            (sold_down.id, "Sold down", 4),
            (upper_b.id, "B", 5),
            (lower_b.id, "b", 5),
            (eclair.id, "Éclair", 5),
        ]
    );
    let none_left = stats(&stores, 0).await;
    assert_eq!(
        none_left.low_stock.iter().map(|l| l.product_id).collect::<Vec<_>>(),
        vec![zed.id],
        "the threshold is the caller's"
    );
}

pub async fn low_stock_lists_at_most_fifty_products(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    for i in 0..55i64 {
        create_product(&stores, seller.id, &format!("P{i:02}"), 100, (i * 7) % 6).await;
    }

    let seen = stats(&stores, THRESHOLD).await;

    assert_eq!(seen.low_stock.len(), 50);
    assert_eq!(seen.products_total, 55);
    assert_eq!(seen, reference(&stores, THRESHOLD, now()).await);
    let last = seen.low_stock.last().unwrap();
    assert_eq!(last.stock, 5, "the five left out have the most stock");
}
