//! Contract of placing an order (`orders::place_order` over `OrderRepository`'s unit of
//! work): every line's stock is taken, or none is; lines carry the product's name and price
//! as they were; refusals say exactly why.

use super::support::{
    LOW_STOCK_RULE, create_product, create_user, every_order, new_order, now, place, place_ok, set_stock, stock_of,
};
use crate::OrderStores;
use storefront_app::catalog::stock_change_rule;
use storefront_app::orders::place_order;
use storefront_app::ports::ProductChanges;
use storefront_domain::{
    OrderId, OrderLine, OrderStatus, PlacementError, PriceCents, ProductId, ProductName, Shortage,
};
use uuid::Uuid;

pub async fn placing_an_order_takes_the_stock_and_snapshots_names_and_prices(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Fountain pen", 2_450, 10).await;
    let ink = create_product(&stores, seller.id, "Ink bottle", 799, 4).await;
    let untouched = create_product(&stores, seller.id, "Paper", 300, 7).await;
    let new = new_order(buyer.id, &[(ink.id, 4), (pen.id, 2)]);

    let order = place_order(stores.orders.as_ref(), &new, LOW_STOCK_RULE).await.unwrap().unwrap();

    assert_eq!(order.id, new.id);
    assert_eq!(order.user_id, Some(buyer.id));
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(
        order.items,
        vec![
            OrderLine {
                product_id: ink.id,
                product_name: "Ink bottle".into(),
                unit_price_cents: 799,
                quantity: 4,
                line_total_cents: 3_196,
            },
            OrderLine {
                product_id: pen.id,
                product_name: "Fountain pen".into(),
                unit_price_cents: 2_450,
                quantity: 2,
                line_total_cents: 4_900,
            },
        ],
        "one line per requested line, in the request's order"
    );
    assert_eq!(order.total_cents, 3_196 + 4_900);
    assert_eq!((order.created_at, order.updated_at), (new.created_at, new.created_at));
    assert_eq!((stock_of(&stores, pen.id).await, stock_of(&stores, ink.id).await), (8, 0));
    assert_eq!(stock_of(&stores, untouched.id).await, 7);
    assert_eq!(stores.orders.get(order.id).await.unwrap(), Some(order.clone()));
    assert_eq!(every_order(&stores).await, vec![order]);
}

pub async fn getting_an_unknown_order_finds_nothing(stores: OrderStores) {
    assert_eq!(stores.orders.get(OrderId(Uuid::now_v7())).await.unwrap(), None);
}

pub async fn an_order_for_exactly_the_stock_left_empties_it_and_the_next_unit_is_refused(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let lamp = create_product(&stores, seller.id, "Lamp", 5_000, 3).await;

    place_ok(&stores, buyer.id, &[(lamp.id, 3)]).await;
    let refused = place(&stores, buyer.id, &[(lamp.id, 1)]).await.unwrap_err();

    assert_eq!(stock_of(&stores, lamp.id).await, 0);
    assert_eq!(
        refused,
        PlacementError::InsufficientStock(vec![Shortage { line: 0, product_id: lamp.id, requested: 1, available: 0 }])
    );
    assert_eq!(every_order(&stores).await.len(), 1);
}

pub async fn an_order_with_short_lines_leaves_no_trace_and_reports_every_short_line(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let plenty = create_product(&stores, seller.id, "Plenty", 100, 50).await;
    let few = create_product(&stores, seller.id, "Few", 100, 2).await;
    let also_plenty = create_product(&stores, seller.id, "Also plenty", 100, 50).await;
    let none_left = create_product(&stores, seller.id, "None left", 100, 0).await;

    let one_short = place(&stores, buyer.id, &[(plenty.id, 5), (few.id, 3), (also_plenty.id, 5)]).await.unwrap_err();
    let two_short = place(&stores, buyer.id, &[(none_left.id, 1), (plenty.id, 50), (few.id, 9)]).await.unwrap_err();

    assert_eq!(
        one_short,
        PlacementError::InsufficientStock(vec![Shortage { line: 1, product_id: few.id, requested: 3, available: 2 }])
    );
    assert_eq!(
        two_short,
        PlacementError::InsufficientStock(vec![
            Shortage { line: 0, product_id: none_left.id, requested: 1, available: 0 },
            Shortage { line: 2, product_id: few.id, requested: 9, available: 2 },
        ])
    );
    for (product, initial) in [(plenty.id, 50), (few.id, 2), (also_plenty.id, 50), (none_left.id, 0)] {
        assert_eq!(stock_of(&stores, product).await, initial, "no line's stock was taken");
    }
    assert_eq!(every_order(&stores).await, vec![], "no order was written");
    assert!(!stores.orders.has_bought(buyer.id, plenty.id).await.unwrap());
}

pub async fn an_order_naming_unknown_products_reports_their_line_indexes_and_takes_nothing(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let known = create_product(&stores, seller.id, "Known", 100, 0).await;
    let deleted = create_product(&stores, seller.id, "Deleted", 100, 10).await;
    let other = create_product(&stores, seller.id, "Other", 100, 10).await;
    stores.products.delete(deleted.id).await.unwrap();

    let refused =
        place(&stores, buyer.id, &[(ProductId(Uuid::now_v7()), 1), (known.id, 5), (deleted.id, 1), (other.id, 2)])
            .await
            .unwrap_err();

    assert_eq!(refused, PlacementError::UnknownProducts(vec![0, 2]), "unknown products are reported before stock");
    assert_eq!(stock_of(&stores, other.id).await, 10);
    assert_eq!(every_order(&stores).await, vec![]);
}

pub async fn changing_a_product_after_placing_does_not_change_the_order(stores: OrderStores) {
    let seller = create_user(&stores, "seller@example.com").await;
    let buyer = create_user(&stores, "buyer@example.com").await;
    let pen = create_product(&stores, seller.id, "Pen", 150, 10).await;
    let order = place_ok(&stores, buyer.id, &[(pen.id, 2)]).await;

    let changes = ProductChanges {
        name: Some(ProductName::parse("Golden pen").unwrap()),
        price: Some(PriceCents::parse(99_900).unwrap()),
        ..Default::default()
    };
    stores.products.update(pen.id, changes, now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
    set_stock(&stores, pen.id, 1).await;

    let seen = stores.orders.get(order.id).await.unwrap().unwrap();
    assert_eq!(seen, order);
    assert_eq!((seen.items[0].product_name.as_str(), seen.items[0].unit_price_cents), ("Pen", 150));
    assert_eq!(seen.total_cents, 300);
    let next = place_ok(&stores, buyer.id, &[(pen.id, 1)]).await;
    assert_eq!(
        (next.items[0].product_name.as_str(), next.total_cents),
        ("Golden pen", 99_900),
        "new orders see the change"
    );
}
