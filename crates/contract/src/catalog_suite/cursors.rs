//! Contract of keyset pages (`ProductRepository::list` with `after`): a walk from position
//! to position returns exactly the one big listing, for every sort and filter, with the
//! total of all matches on every page; and a walk neither repeats nor skips a product that
//! exists throughout it, whatever is inserted meanwhile.

use super::support::{
    ascending_ids, create_category, create_review, create_user, like, new_product, now, price, stock,
};
use crate::CatalogStores;
use chrono::Duration;
use storefront_app::ports::{NewProduct, PageRequest};
use storefront_domain::{ProductFilter, ProductId, ProductName, ProductPosition, ProductSort, UserId};
use uuid::Uuid;

/// Every sort order the listing offers.
const SORTS: [&str; 10] =
    ["created_at", "-created_at", "price", "-price", "name", "-name", "likes", "-likes", "rating", "-rating"];

fn sort(raw: &str) -> ProductSort {
    raw.parse().unwrap()
}

/// Every match of `filter` in one page.
async fn one_listing(stores: &CatalogStores, filter: &ProductFilter, order: ProductSort) -> Vec<ProductId> {
    let page = PageRequest { limit: 100, offset: 0 };
    let listed = stores.products.list(filter, order, page, None, None).await.unwrap();
    assert_eq!(listed.total as usize, listed.items.len(), "every match fits on one page");
    listed.items.into_iter().map(|p| p.id).collect()
}

/// The ids of one keyset page after `after`, checking the total.
async fn page_after(
    stores: &CatalogStores,
    filter: &ProductFilter,
    order: ProductSort,
    limit: u32,
    after: Option<&ProductPosition>,
    total: Option<u64>,
) -> (Vec<ProductId>, Option<ProductPosition>) {
    let page = PageRequest { limit, offset: 0 };
    let listed = stores.products.list(filter, order, page, after, None).await.unwrap();
    if let Some(total) = total {
        assert_eq!(listed.total, total, "the total counts every match, whatever the position");
    }
    let next = listed.items.last().map(|last| order.position_of(last));
    (listed.items.into_iter().map(|p| p.id).collect(), next)
}

/// Fourteen products with ties on every sort key (same time, price, name, likes and
/// rating), some unrated, some in `books`, some out of stock.
async fn catalogue_with_ties(stores: &CatalogStores) -> UserId {
    let owner = create_user(stores, "owner@example.com").await;
    let fans = [create_user(stores, "fan1@example.com").await.id, create_user(stores, "fan2@example.com").await.id];
    let books = create_category(stores, "Books", "books").await;
    let t0 = now();
    let ids = ascending_ids(14);
    for (n, id) in ids.into_iter().enumerate() {
        let new = NewProduct {
            id,
            name: ProductName::parse(["Alpha", "beta", "Beta", "alpha"][n % 4]).unwrap(),
            price: price([100, 250, 100][n % 3]),
            stock: stock((n % 4) as i64),
            created_at: t0 + Duration::seconds((n % 5) as i64),
            category_ids: if n % 2 == 0 { vec![books.id] } else { Vec::new() },
            ..new_product(owner.id, "x")
        };
        stores.products.create(new).await.unwrap();
        for fan in fans.iter().take(n % 3) {
            like(stores, id, *fan).await;
        }
        if n % 3 != 0 {
            create_review(stores, id, fans[n % 2], 1 + (n % 5) as i64).await;
        }
    }
    owner.id
}

pub async fn a_walk_by_keyset_positions_returns_the_whole_listing_once_for_every_sort_and_filter(
    stores: CatalogStores,
) {
    catalogue_with_ties(&stores).await;
    let filters = [
        ProductFilter::default(),
        ProductFilter { category: Some("books".into()), ..Default::default() },
        ProductFilter { in_stock: true, min_price: Some(100), max_price: Some(200), ..Default::default() },
        ProductFilter { q: Some("ALPHA".into()), ..Default::default() },
    ];
    for filter in &filters {
        for order in SORTS.map(sort) {
            let expected = one_listing(&stores, filter, order).await;
            for limit in [1, 3, 5] {
                let mut walked = Vec::new();
                let mut after: Option<ProductPosition> = None;
                for _ in 0..=expected.len() {
                    let (ids, next) =
                        page_after(&stores, filter, order, limit, after.as_ref(), Some(expected.len() as u64)).await;
                    let fetched = ids.len();
                    walked.extend(ids);
                    if fetched < limit as usize {
                        break;
                    }
                    after = next;
                }
                assert_eq!(walked, expected, "{filter:?} sorted by {order:?}, {limit} a page");
            }
        }
    }
}

pub async fn a_keyset_page_past_the_last_match_is_empty_and_keeps_the_total(stores: CatalogStores) {
    catalogue_with_ties(&stores).await;
    for order in SORTS.map(sort) {
        let everything = PageRequest { limit: 100, offset: 0 };
        let listed = stores.products.list(&ProductFilter::default(), order, everything, None, None).await.unwrap();
        let last = order.position_of(listed.items.last().unwrap());
        let (ids, _) = page_after(&stores, &ProductFilter::default(), order, 5, Some(&last), Some(14)).await;
        assert_eq!(ids, Vec::<ProductId>::new(), "{order:?}");
        // An offset counts from the position.
        let second = order.position_of(&listed.items[1]);
        let page = PageRequest { limit: 2, offset: 3 };
        let skipped = stores.products.list(&ProductFilter::default(), order, page, Some(&second), None).await.unwrap();
        let expected: Vec<ProductId> = listed.items[5..7].iter().map(|p| p.id).collect();
        assert_eq!(skipped.items.iter().map(|p| p.id).collect::<Vec<_>>(), expected, "{order:?}");
    }
}

pub async fn a_keyset_walk_neither_repeats_nor_skips_a_product_when_others_are_inserted_meanwhile(
    stores: CatalogStores,
) {
    let owner = catalogue_with_ties(&stores).await;
    let t0 = now();
    let mut inserted = 0;
    for order in SORTS.map(sort) {
        let before = one_listing(&stores, &ProductFilter::default(), order).await;
        let mut walked = Vec::new();
        let mut after: Option<ProductPosition> = None;
        for pages in 0..100 {
            let (ids, next) = page_after(&stores, &ProductFilter::default(), order, 4, after.as_ref(), None).await;
            let fetched = ids.len();
            walked.extend(ids);
            if fetched < 4 {
                break;
            }
            after = next;
            // New products on both sides of the position and tied with what was just read:
            // the same names, prices and times as existing ones, ids before and after.
            for n in (0..2).filter(|_| pages < 3) {
                inserted += 1;
                // The first at one end of the id order or the other.
                let id = match (n, inserted % 2) {
                    (0, 0) => ProductId(Uuid::from_u128(inserted as u128)),
                    (0, _) => ProductId(Uuid::from_u128(u128::MAX - inserted as u128)),
                    _ => ProductId(Uuid::now_v7()),
                };
                let new = NewProduct {
                    id,
                    name: ProductName::parse(["Alpha", "beta", "Beta", "alpha", "Zed", "Aardvark"][inserted % 6])
                        .unwrap(),
                    price: price([100, 250, 1, 9_999][inserted % 4]),
                    created_at: t0 + Duration::seconds([0, 2, 4, -60, 60][inserted % 5]),
                    ..new_product(owner, "x")
                };
                stores.products.create(new).await.unwrap();
            }
        }
        let old: Vec<ProductId> = walked.iter().copied().filter(|id| before.contains(id)).collect();
        assert_eq!(old, before, "{order:?}: every product that existed throughout, once, in order");
        let mut unique = walked.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), walked.len(), "{order:?}: nothing twice");
    }
}
