//! Contract of `ProductRepository::list`: every filter, every sort order both ways with
//! ties broken by id, pagination, and agreement with the domain's reference semantics
//! (`ProductFilter::matches`, `ProductSort::compare`) on a seeded random catalogue.

use super::support::{
    LOW_STOCK_RULE, all, ascending_ids, create_category, create_product, create_product_with, create_review,
    create_user, description, get, like, names, new_product, now, page, price, stock,
};
use crate::CatalogStores;
use chrono::Duration;
use std::collections::HashMap;
use storefront_app::catalog::stock_change_rule;
use storefront_app::ports::{NewProduct, PageRequest, ProductChanges};
use storefront_domain::{
    CategoryId, Product, ProductFilter, ProductId, ProductName, ProductSort, Rating, Review, UserId,
};

fn sort(raw: &str) -> ProductSort {
    raw.parse().unwrap()
}

/// Every sort order the listing offers.
const SORTS: [&str; 10] =
    ["created_at", "-created_at", "price", "-price", "name", "-name", "likes", "-likes", "rating", "-rating"];

async fn list(stores: &CatalogStores, filter: &ProductFilter, order: &str) -> Vec<Product> {
    let page = stores.products.list(filter, sort(order), all(), None, None).await.unwrap();
    assert_eq!(page.total as usize, page.items.len(), "every match fits on one page");
    page.items
}

/// The names of the products `filter` selects, by name then id.
async fn matching_names(stores: &CatalogStores, filter: ProductFilter) -> Vec<String> {
    list(stores, &filter, "name").await.into_iter().map(|p| p.name).collect()
}

fn q(text: &str) -> ProductFilter {
    ProductFilter { q: Some(text.into()), ..Default::default() }
}

pub async fn listing_without_filters_returns_every_product_newest_first_by_default(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let t0 = now();
    for (name, minutes) in [("Middle", 1), ("Newest", 2), ("Oldest", 0)] {
        create_product_with(&stores, owner.id, name, |p| p.created_at = t0 + Duration::minutes(minutes)).await;
    }

    let page =
        stores.products.list(&ProductFilter::default(), ProductSort::default(), all(), None, None).await.unwrap();

    assert_eq!(names(&page.items), vec!["Newest", "Middle", "Oldest"]);
    assert_eq!(page.total, 3);
}

pub async fn the_unfiltered_total_follows_creations_and_deletions_cascades_included(stores: CatalogStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let bob = create_user(&stores, "bob@example.com").await;
    let kept = create_product(&stores, ada.id, "Kept").await;
    let deleted = create_product(&stores, ada.id, "Deleted").await;
    create_product(&stores, bob.id, "Bob's first").await;
    create_product(&stores, bob.id, "Bob's second").await;
    let unfiltered = async || {
        let page = stores
            .products
            .list(&ProductFilter::default(), ProductSort::default(), page(1, 0), None, None)
            .await
            .unwrap();
        (page.items.len(), page.total)
    };
    assert_eq!(unfiltered().await, (1, 4));

    stores.products.delete(deleted.id).await.unwrap();
    stores.users.delete(bob.id).await.unwrap();

    assert_eq!(unfiltered().await, (1, 1));
    let everything =
        stores.products.list(&ProductFilter::default(), ProductSort::default(), all(), None, None).await.unwrap();
    assert_eq!(everything.items.iter().map(|p| p.id).collect::<Vec<_>>(), vec![kept.id]);
}

pub async fn listing_an_empty_catalogue_returns_nothing(stores: CatalogStores) {
    let page =
        stores.products.list(&ProductFilter::default(), ProductSort::default(), all(), None, None).await.unwrap();

    assert_eq!((page.items.len(), page.total), (0, 0));
}

pub async fn the_text_filter_matches_the_name_or_the_description_whatever_the_case(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    for (name, text) in [
        ("Red Kettle", "Boils water"),
        ("Blue mug", "Holds a KETTLE's worth of tea"),
        ("Teapot", "Pours tea"),
        ("Kettlebell", ""),
    ] {
        create_product_with(&stores, owner.id, name, |p| p.description = description(text)).await;
    }

    assert_eq!(matching_names(&stores, q("kettle")).await, vec!["Blue mug", "Kettlebell", "Red Kettle"]);
    assert_eq!(matching_names(&stores, q("KeTtLe")).await, vec!["Blue mug", "Kettlebell", "Red Kettle"]);
    assert_eq!(matching_names(&stores, q("TEA")).await, vec!["Blue mug", "Teapot"]);
    assert_eq!(matching_names(&stores, q("pours")).await, vec!["Teapot"], "the description alone matches");
    assert_eq!(matching_names(&stores, q("ket tle")).await, Vec::<String>::new());
}

pub async fn the_text_filter_treats_wildcards_and_escapes_as_plain_text(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    for name in ["50% off", "500 off", "a_c", "abc", r"back\slash", "backslash", "percent"] {
        create_product(&stores, owner.id, name).await;
    }

    assert_eq!(matching_names(&stores, q("50%")).await, vec!["50% off"]);
    assert_eq!(matching_names(&stores, q("%")).await, vec!["50% off"]);
    assert_eq!(matching_names(&stores, q("a_c")).await, vec!["a_c"]);
    assert_eq!(matching_names(&stores, q("_")).await, vec!["a_c"]);
    assert_eq!(matching_names(&stores, q(r"\")).await, vec![r"back\slash"]);
    assert_eq!(matching_names(&stores, q(r"k\s")).await, vec![r"back\slash"]);
    assert_eq!(matching_names(&stores, q(r"\%")).await, Vec::<String>::new());
}

pub async fn the_category_filter_selects_the_products_linked_to_the_slug(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let games = create_category(&stores, "Games", "games").await;
    create_category(&stores, "Empty", "empty").await;
    for (name, categories) in [
        ("Novel", vec![books.id]),
        ("Chess", vec![games.id]),
        ("Puzzle book", vec![books.id, games.id]),
        ("Pen", vec![]),
    ] {
        stores.products.create(NewProduct { category_ids: categories, ..new_product(owner.id, name) }).await.unwrap();
    }
    let in_category = |slug: &str| ProductFilter { category: Some(slug.into()), ..Default::default() };

    assert_eq!(matching_names(&stores, in_category("books")).await, vec!["Novel", "Puzzle book"]);
    assert_eq!(matching_names(&stores, in_category("games")).await, vec!["Chess", "Puzzle book"]);
    assert_eq!(matching_names(&stores, in_category("empty")).await, Vec::<String>::new());
    assert_eq!(matching_names(&stores, in_category("unknown")).await, Vec::<String>::new());
    let listed = list(&stores, &in_category("books"), "name").await;
    assert_eq!(listed[1].categories.len(), 2, "a match shows all its categories, not only the one filtered on");
}

pub async fn the_owner_filter_selects_the_owners_products(stores: CatalogStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let nobody = create_user(&stores, "alan@example.com").await;
    for (owner, name) in [(ada.id, "Engine"), (grace.id, "Compiler"), (ada.id, "Notes")] {
        create_product(&stores, owner, name).await;
    }
    let owned_by = |owner: UserId| ProductFilter { owner_id: Some(owner), ..Default::default() };

    assert_eq!(matching_names(&stores, owned_by(ada.id)).await, vec!["Engine", "Notes"]);
    assert_eq!(matching_names(&stores, owned_by(grace.id)).await, vec!["Compiler"]);
    assert_eq!(matching_names(&stores, owned_by(nobody.id)).await, Vec::<String>::new());
}

pub async fn the_price_bounds_are_inclusive(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    for cents in [0, 99, 100, 150, 200, 201] {
        create_product_with(&stores, owner.id, &format!("p{cents:03}"), |p| p.price = price(cents)).await;
    }
    let bounds =
        |min: Option<i64>, max: Option<i64>| ProductFilter { min_price: min, max_price: max, ..Default::default() };

    assert_eq!(matching_names(&stores, bounds(Some(100), Some(200))).await, vec!["p100", "p150", "p200"]);
    assert_eq!(matching_names(&stores, bounds(Some(150), None)).await, vec!["p150", "p200", "p201"]);
    assert_eq!(matching_names(&stores, bounds(None, Some(99))).await, vec!["p000", "p099"]);
    assert_eq!(matching_names(&stores, bounds(Some(150), Some(150))).await, vec!["p150"]);
    assert_eq!(matching_names(&stores, bounds(Some(0), Some(0))).await, vec!["p000"]);
    assert_eq!(matching_names(&stores, bounds(Some(202), None)).await, Vec::<String>::new());
}

pub async fn the_in_stock_filter_leaves_out_products_without_stock(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    for units in [0, 1, 5] {
        create_product_with(&stores, owner.id, &format!("stock {units}"), |p| p.stock = stock(units)).await;
    }

    let in_stock = ProductFilter { in_stock: true, ..Default::default() };
    assert_eq!(matching_names(&stores, in_stock).await, vec!["stock 1", "stock 5"]);
    assert_eq!(matching_names(&stores, ProductFilter::default()).await, vec!["stock 0", "stock 1", "stock 5"]);
}

pub async fn filters_combine_with_and(stores: CatalogStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let everything = |p: &mut NewProduct| {
        p.category_ids = vec![books.id];
        p.price = price(500);
        p.stock = stock(3);
    };
    create_product_with(&stores, ada.id, "Tea book", everything).await;
    create_product_with(&stores, ada.id, "Tea book, sold out", |p| {
        everything(p);
        p.stock = stock(0);
    })
    .await;
    create_product_with(&stores, ada.id, "Tea book, too dear", |p| {
        everything(p);
        p.price = price(5_000);
    })
    .await;
    create_product_with(&stores, ada.id, "Tea book, no category", |p| {
        everything(p);
        p.category_ids.clear();
    })
    .await;
    create_product_with(&stores, grace.id, "Tea book, other owner", everything).await;
    create_product_with(&stores, ada.id, "Coffee book", everything).await;

    let filter = ProductFilter {
        q: Some("tea".into()),
        category: Some("books".into()),
        owner_id: Some(ada.id),
        min_price: Some(100),
        max_price: Some(1_000),
        in_stock: true,
    };
    assert_eq!(matching_names(&stores, filter).await, vec!["Tea book"]);
}

/// One row of a table of products: seconds after the first creation, price, name, the
/// fans (by index) who like it, its ratings.
type ProductRow = (i64, i64, &'static str, &'static [usize], &'static [i64]);

/// Five products whose ids ascend with their index, created in another order, with ties
/// on every sort key. Returns them by index.
async fn five_products_with_ties(stores: &CatalogStores) -> Vec<ProductId> {
    let owner = create_user(stores, "owner@example.com").await;
    let fans = [create_user(stores, "fan1@example.com").await.id, create_user(stores, "fan2@example.com").await.id];
    let ids = ascending_ids(5);
    let t0 = now();
    let table: [ProductRow; 5] = [
        (2, 300, "beta", &[0], &[4]),
        (0, 100, "Beta", &[0, 1], &[]),
        (2, 200, "alpha", &[], &[5, 3]),
        (1, 300, "Alpha", &[0, 1], &[2]),
        (1, 100, "beta", &[1], &[]),
    ];
    for index in [3, 1, 4, 0, 2] {
        let (seconds, cents, name, likers, ratings) = table[index];
        let new = NewProduct {
            id: ids[index],
            price: price(cents),
            created_at: t0 + Duration::seconds(seconds),
            ..new_product(owner.id, name)
        };
        stores.products.create(new).await.unwrap();
        for &fan in likers {
            like(stores, ids[index], fans[fan]).await;
        }
        for (fan, &rating) in ratings.iter().enumerate() {
            create_review(stores, ids[index], fans[fan], rating).await;
        }
    }
    ids
}

pub async fn every_sort_key_orders_both_ways_with_ties_broken_by_id_in_the_same_direction(stores: CatalogStores) {
    let ids = five_products_with_ties(&stores).await;
    // Names compare by code point, as `ProductSort::compare` does: upper case first.
    // Unrated products come last both ways.
    let expected: [(&str, [usize; 5]); 10] = [
        ("created_at", [1, 3, 4, 0, 2]),
        ("-created_at", [2, 0, 4, 3, 1]),
        ("price", [1, 4, 2, 0, 3]),
        ("-price", [3, 0, 2, 4, 1]),
        ("name", [3, 1, 2, 0, 4]),
        ("-name", [4, 0, 2, 1, 3]),
        ("likes", [2, 0, 4, 1, 3]),
        ("-likes", [3, 1, 4, 0, 2]),
        ("rating", [3, 0, 2, 1, 4]),
        ("-rating", [2, 0, 3, 4, 1]),
    ];
    for (order, indexes) in expected {
        let listed: Vec<ProductId> =
            list(&stores, &ProductFilter::default(), order).await.into_iter().map(|p| p.id).collect();
        let wanted: Vec<ProductId> = indexes.iter().map(|&i| ids[i]).collect();
        assert_eq!(listed, wanted, "sorted by {order}");
    }
}

pub async fn unrated_products_sort_last_both_ways_by_rating(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let critic = create_user(&stores, "critic@example.com").await;
    let ids = ascending_ids(4);
    for (index, name, rating) in
        [(2, "Unrated late", None), (0, "Unrated early", None), (1, "Good", Some(5)), (3, "Bad", Some(1))]
    {
        stores.products.create(NewProduct { id: ids[index], ..new_product(owner.id, name) }).await.unwrap();
        if let Some(rating) = rating {
            create_review(&stores, ids[index], critic.id, rating).await;
        }
    }

    let ascending = list(&stores, &ProductFilter::default(), "rating").await;
    assert_eq!(names(&ascending), vec!["Bad", "Good", "Unrated early", "Unrated late"]);
    let descending = list(&stores, &ProductFilter::default(), "-rating").await;
    assert_eq!(names(&descending), vec!["Good", "Bad", "Unrated late", "Unrated early"]);
}

pub async fn ratings_sort_by_their_one_decimal_average_so_close_means_equal(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let mut critics = Vec::new();
    for n in 0..4 {
        critics.push(create_user(&stores, &format!("critic{n}@example.com")).await.id);
    }
    let ids = ascending_ids(2);
    // 13/3 = 4.33 and 17/4 = 4.25 both show as 4.3: a tie, broken by id, although the
    // exact means differ the other way.
    for (index, name, ratings) in [(1, "Four and a quarter", vec![5, 4, 4, 4]), (0, "Four and a third", vec![5, 4, 4])]
    {
        stores.products.create(NewProduct { id: ids[index], ..new_product(owner.id, name) }).await.unwrap();
        for (critic, rating) in critics.iter().zip(ratings) {
            create_review(&stores, ids[index], *critic, rating).await;
        }
    }

    let ascending = list(&stores, &ProductFilter::default(), "rating").await;
    assert_eq!(ascending.iter().map(|p| p.rating_avg).collect::<Vec<_>>(), vec![Some(4.3), Some(4.3)]);
    assert_eq!(names(&ascending), vec!["Four and a third", "Four and a quarter"]);
    let descending = list(&stores, &ProductFilter::default(), "-rating").await;
    assert_eq!(names(&descending), vec!["Four and a quarter", "Four and a third"]);
}

pub async fn pages_do_not_overlap_and_carry_the_total_of_all_matches(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let t0 = now();
    for n in 0..7 {
        create_product_with(&stores, owner.id, &format!("Item {n}"), |p| {
            p.created_at = t0 + Duration::seconds(n % 3);
            p.stock = stock(n % 2);
        })
        .await;
    }
    let everything = list(&stores, &ProductFilter::default(), "-created_at").await;

    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        let page = stores
            .products
            .list(&ProductFilter::default(), sort("-created_at"), page(3, offset), None, None)
            .await
            .unwrap();
        assert_eq!(page.total, 7, "offset {offset}");
        assert_eq!(page.items.len(), if offset == 6 { 1 } else { 3 }, "offset {offset}");
        paged.extend(page.items);
    }
    assert_eq!(paged, everything);

    let in_stock = ProductFilter { in_stock: true, ..Default::default() };
    let first = stores.products.list(&in_stock, sort("name"), page(2, 0), None, None).await.unwrap();
    assert_eq!((names(&first.items), first.total), (vec!["Item 1", "Item 3"], 3));
    let beyond = stores.products.list(&in_stock, sort("name"), page(2, 50), None, None).await.unwrap();
    assert_eq!((beyond.items.len(), beyond.total), (0, 3), "a page past the end is empty but keeps the total");
}

pub async fn listed_products_show_what_get_shows_to_the_same_viewer(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    let critic = create_user(&stores, "alan@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let games = create_category(&stores, "Games", "games").await;
    let liked = stores
        .products
        .create(NewProduct { category_ids: vec![games.id, books.id], ..new_product(owner.id, "Liked") })
        .await
        .unwrap();
    let reviewed = create_product(&stores, owner.id, "Reviewed").await;
    like(&stores, liked.id, fan.id).await;
    like(&stores, liked.id, critic.id).await;
    create_review(&stores, reviewed.id, critic.id, 4).await;
    create_review(&stores, reviewed.id, fan.id, 1).await;

    for viewer in [None, Some(fan.id), Some(critic.id), Some(owner.id)] {
        let listed = stores.products.list(&ProductFilter::default(), sort("name"), all(), None, viewer).await.unwrap();
        let expected = vec![get(&stores, liked.id, viewer).await, get(&stores, reviewed.id, viewer).await];
        assert_eq!(listed.items, expected, "seen by {viewer:?}");
    }
    let seen = list(&stores, &ProductFilter::default(), "name").await;
    assert_eq!((seen[0].like_count, seen[0].review_count, seen[0].rating_avg), (2, 0, None));
    assert_eq!(seen[0].categories.iter().map(|c| c.slug.as_str()).collect::<Vec<_>>(), vec!["books", "games"]);
    assert_eq!((seen[1].like_count, seen[1].review_count, seen[1].rating_avg), (0, 2, Some(2.5)));
}

/// A small deterministic generator (Knuth's MMIX LCG), so that a failure replays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// What the listing must return: `seen` (every product as one viewer sees it, through
/// `get`) filtered and ordered by the domain's reference semantics.
fn reference(seen: &[Product], filter: &ProductFilter, order: ProductSort) -> Vec<Product> {
    let mut expected: Vec<Product> = seen.iter().filter(|p| filter.matches(p)).cloned().collect();
    expected.sort_by(|a, b| order.compare(a, b));
    expected
}

/// Every page of the listing, `limit` at a time, checking the total on each.
async fn paged_through(
    stores: &CatalogStores,
    filter: &ProductFilter,
    order: ProductSort,
    limit: u32,
    viewer: Option<UserId>,
) -> Vec<Product> {
    let mut items = Vec::new();
    let mut total = None;
    loop {
        let request = PageRequest { limit, offset: items.len() as u64 };
        let page = stores.products.list(filter, order, request, None, viewer).await.unwrap();
        assert_eq!(*total.get_or_insert(page.total), page.total, "the total is the same on every page");
        let fetched = page.items.len();
        assert!(fetched <= limit as usize);
        items.extend(page.items);
        if fetched < limit as usize || items.len() as u64 >= page.total {
            break;
        }
    }
    assert_eq!(total, Some(items.len() as u64), "{filter:?} {order:?}");
    items
}

pub async fn listing_agrees_with_the_reference_filter_and_order_on_a_seeded_random_catalogue(stores: CatalogStores) {
    let mut rng = Lcg(0x5EED_CA7A_1065);
    let owners = [
        create_user(&stores, "o1@example.com").await.id,
        create_user(&stores, "o2@example.com").await.id,
        create_user(&stores, "o3@example.com").await.id,
    ];
    let mut fans = Vec::new();
    for n in 0..5 {
        fans.push(create_user(&stores, &format!("fan{n}@example.com")).await.id);
    }
    let mut categories: Vec<(CategoryId, &str)> = Vec::new();
    for (name, slug) in [("Books", "books"), ("Games", "games"), ("Toys", "toys"), ("Tools", "tools")] {
        categories.push((create_category(&stores, name, slug).await.id, slug));
    }
    let product_names =
        ["Kettle", "kettle", "Mug", "Teapot", "Lamp", "lamp", "Desk", "Chair", "50% mug", "a_b", "Zebra", "zebra"];
    let descriptions = ["", "Blue and sturdy", "red KETTLE", "for tea", "100%_cotton", "Lamp oil"];
    let prices = [0, 100, 250, 999, 1_000, 5_000];
    let stocks = [0, 0, 1, 7, 1_000];
    let t0 = now();

    let mut ids = Vec::new();
    let mut reviews: Vec<Review> = Vec::new();
    for _ in 0..40 {
        let name = rng.pick(&product_names);
        let cents = if rng.chance(4) { rng.below(10_000) as i64 } else { rng.pick(&prices) };
        let new = NewProduct {
            description: description(rng.pick(&descriptions)),
            price: price(cents),
            stock: stock(rng.pick(&stocks)),
            category_ids: categories.iter().filter(|_| rng.chance(3)).map(|(id, _)| *id).collect(),
            created_at: t0 + Duration::seconds(rng.below(8) as i64),
            ..new_product(rng.pick(&owners), name)
        };
        let id = stores.products.create(new).await.unwrap().id;
        ids.push(id);
        for &fan in &fans {
            if rng.chance(3) {
                like(&stores, id, fan).await;
            }
            if rng.chance(3) {
                reviews.push(create_review(&stores, id, fan, 1 + rng.below(5) as i64).await);
            }
        }
    }

    let mut filters = vec![ProductFilter::default()];
    for text in ["kettle", "KETTLE", "%", "_", "50%", "lamp", "tea", "e", "zzz"] {
        filters.push(q(text));
    }
    for slug in ["books", "games", "toys", "tools", "nothing"] {
        filters.push(ProductFilter { category: Some(slug.into()), ..Default::default() });
    }
    for owner in owners {
        filters.push(ProductFilter { owner_id: Some(owner), ..Default::default() });
    }
    for (min, max) in [(Some(250), None), (None, Some(999)), (Some(100), Some(1_000)), (Some(1_000), Some(1_000))] {
        filters.push(ProductFilter { min_price: min, max_price: max, ..Default::default() });
    }
    filters.push(ProductFilter { in_stock: true, ..Default::default() });
    filters.push(ProductFilter {
        q: Some("e".into()),
        category: Some("books".into()),
        in_stock: true,
        ..Default::default()
    });
    filters.push(ProductFilter {
        owner_id: Some(owners[0]),
        min_price: Some(100),
        in_stock: true,
        ..Default::default()
    });
    filters.push(ProductFilter {
        q: Some("a".into()),
        max_price: Some(999),
        category: Some("toys".into()),
        ..Default::default()
    });

    assert_listing_agrees(&stores, &ids, &filters, &fans, &mut rng, "as created").await;

    // Change a quarter of everything, so that the aggregates must follow.
    for &id in &ids {
        if rng.chance(4) {
            let changes = ProductChanges {
                name: Some(ProductName::parse(rng.pick(&product_names)).unwrap()),
                price: Some(price(rng.pick(&prices))),
                stock: Some(stock(rng.pick(&stocks))),
                category_ids: Some(categories.iter().filter(|_| rng.chance(2)).map(|(id, _)| *id).collect()),
                description: None,
            };
            stores.products.update(id, changes, now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
        }
        for &fan in &fans {
            if rng.chance(4) {
                stores.products.set_like(id, fan, rng.chance(2), now()).await.unwrap();
            }
        }
    }
    for review in &reviews {
        match rng.below(6) {
            0 => stores.reviews.delete(review.id, now()).await.unwrap(),
            1 => {
                let rating = Rating::parse(1 + rng.below(5) as i64).unwrap();
                stores.reviews.update(review.id, Some(rating), None, now()).await.unwrap();
            }
            _ => {}
        }
    }
    for _ in 0..4 {
        let doomed = ids.remove(rng.below(ids.len()));
        stores.products.delete(doomed).await.unwrap();
    }
    stores.categories.delete(categories[3].0).await.unwrap();

    assert_listing_agrees(&stores, &ids, &filters, &fans, &mut rng, "after changes").await;
}

/// Compares the paged-through listing with the reference for every filter and sort order,
/// with a random page size and viewer each time.
async fn assert_listing_agrees(
    stores: &CatalogStores,
    ids: &[ProductId],
    filters: &[ProductFilter],
    fans: &[UserId],
    rng: &mut Lcg,
    round: &str,
) {
    let mut seen: HashMap<Option<UserId>, Vec<Product>> = HashMap::new();
    for viewer in std::iter::once(None).chain(fans.iter().copied().map(Some)) {
        let mut products = Vec::new();
        for &id in ids {
            products.push(get(stores, id, viewer).await);
        }
        seen.insert(viewer, products);
    }
    for (filter, order) in filters.iter().flat_map(|filter| SORTS.iter().map(move |order| (filter, sort(order)))) {
        let limit = 1 + rng.below(15) as u32;
        let viewer = if rng.chance(2) { None } else { Some(rng.pick(fans)) };
        let expected = reference(&seen[&viewer], filter, order);
        let listed = paged_through(stores, filter, order, limit, viewer).await;
        assert_eq!(
            listed.iter().map(|p| p.id).collect::<Vec<_>>(),
            expected.iter().map(|p| p.id).collect::<Vec<_>>(),
            "{round}: {filter:?} sorted by {order:?}, {limit} a page, seen by {viewer:?}"
        );
        assert_eq!(listed, expected, "{round}: {filter:?} sorted by {order:?}, seen by {viewer:?}");
    }
}
