//! Contract of `ProductRepository`'s writes: creating, reading, updating and deleting
//! products with their category links.

use super::support::{
    LOW_STOCK_RULE, all, create_category, create_product, create_review, create_user, description, get, like,
    new_product, now, price, stock,
};
use crate::CatalogStores;
use chrono::Duration;
use storefront_app::StoreError;
use storefront_app::catalog::stock_change_rule;
use storefront_app::ports::{NewProduct, ProductChanges};
use storefront_domain::{CategoryId, ProductFilter, ProductId, ProductName, ProductSort};
use uuid::Uuid;

pub async fn creating_a_product_returns_it_with_its_categories_ordered_by_name_and_nothing_counted(
    stores: CatalogStores,
) {
    let owner = create_user(&stores, "ada@example.com").await;
    let toys = create_category(&stores, "Toys", "toys").await;
    let books = create_category(&stores, "Books", "books").await;
    let games = create_category(&stores, "Games", "games").await;
    let new = NewProduct {
        description: description("A slow and careful read."),
        price: price(2_599),
        stock: stock(12),
        category_ids: vec![toys.id, books.id, games.id],
        ..new_product(owner.id, "The Art of Computer Programming")
    };

    let product = stores.products.create(new.clone()).await.unwrap();

    assert_eq!(product.id, new.id);
    assert_eq!(product.owner_id, owner.id);
    assert_eq!(product.name, "The Art of Computer Programming");
    assert_eq!(product.description, "A slow and careful read.");
    assert_eq!((product.price_cents, product.stock), (2_599, 12));
    let shown: Vec<(CategoryId, &str, &str)> =
        product.categories.iter().map(|c| (c.id, c.name.as_str(), c.slug.as_str())).collect();
    assert_eq!(shown, vec![(books.id, "Books", "books"), (games.id, "Games", "games"), (toys.id, "Toys", "toys")]);
    assert_eq!((product.like_count, product.review_count, product.rating_avg), (0, 0, None));
    assert!(!product.liked_by_me);
    assert_eq!(product.created_at, new.created_at);
    assert_eq!(product.updated_at, new.created_at, "a new product was last updated when created");
}

pub async fn a_created_product_is_found_by_id_as_it_was_returned(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let created = stores
        .products
        .create(NewProduct { category_ids: vec![books.id], ..new_product(owner.id, "Notebook") })
        .await
        .unwrap();

    assert_eq!(stores.products.get(created.id, None).await.unwrap(), Some(created.clone()));
    assert_eq!(stores.products.get(created.id, Some(owner.id)).await.unwrap(), Some(created));
}

pub async fn getting_an_unknown_product_finds_nothing(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    create_product(&stores, owner.id, "Notebook").await;

    assert_eq!(stores.products.get(ProductId(Uuid::now_v7()), None).await.unwrap(), None);
    assert_eq!(stores.products.get(ProductId(Uuid::now_v7()), Some(owner.id)).await.unwrap(), None);
}

pub async fn creating_a_product_with_an_unknown_category_returns_invalid_reference_and_creates_nothing(
    stores: CatalogStores,
) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let new =
        NewProduct { category_ids: vec![books.id, CategoryId(Uuid::now_v7())], ..new_product(owner.id, "Notebook") };

    let err = stores.products.create(new.clone()).await.unwrap_err();

    assert_eq!(err, StoreError::InvalidReference("category_ids".into()));
    assert_eq!(stores.products.get(new.id, None).await.unwrap(), None);
    let listed =
        stores.products.list(&ProductFilter::default(), ProductSort::default(), all(), None, None).await.unwrap();
    assert_eq!(listed.total, 0);
    let categories = stores.categories.list().await.unwrap();
    assert_eq!(categories[0].product_count, 0, "no link was left behind");
}

pub async fn updating_a_product_changes_the_given_fields_and_bumps_updated_at(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let created = create_product(&stores, owner.id, "Notebook").await;
    let later = created.updated_at + Duration::seconds(30);
    let changes = ProductChanges {
        name: Some(ProductName::parse("Dotted notebook").unwrap()),
        description: Some(description("A5, 120 pages")),
        price: Some(price(1_250)),
        stock: Some(stock(0)),
        category_ids: None,
    };

    let updated = stores.products.update(created.id, changes, later, &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();

    assert_eq!(updated.name, "Dotted notebook");
    assert_eq!(updated.description, "A5, 120 pages");
    assert_eq!((updated.price_cents, updated.stock), (1_250, 0));
    assert_eq!(updated.updated_at, later);
    assert_eq!((updated.id, updated.owner_id, updated.created_at), (created.id, owner.id, created.created_at));
    assert_eq!(get(&stores, created.id, None).await, updated, "the change is stored");
}

pub async fn updating_only_the_stock_keeps_every_other_field_and_the_categories(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let created = stores
        .products
        .create(NewProduct {
            description: description("Lined"),
            category_ids: vec![books.id],
            ..new_product(owner.id, "Notebook")
        })
        .await
        .unwrap();
    let later = created.updated_at + Duration::seconds(30);

    let updated = stores
        .products
        .update(
            created.id,
            ProductChanges { stock: Some(stock(99)), ..Default::default() },
            later,
            &stock_change_rule(LOW_STOCK_RULE),
        )
        .await
        .unwrap();

    let expected = storefront_domain::Product { stock: 99, updated_at: later, ..created };
    assert_eq!(updated, expected);
}

pub async fn updating_a_products_categories_replaces_the_whole_set(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let games = create_category(&stores, "Games", "games").await;
    let toys = create_category(&stores, "Toys", "toys").await;
    let created = stores
        .products
        .create(NewProduct { category_ids: vec![books.id, games.id], ..new_product(owner.id, "Puzzle book") })
        .await
        .unwrap();

    let changes = ProductChanges { category_ids: Some(vec![toys.id, games.id]), ..Default::default() };
    let updated = stores.products.update(created.id, changes, now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
    let slugs: Vec<&str> = updated.categories.iter().map(|c| c.slug.as_str()).collect();
    assert_eq!(slugs, vec!["games", "toys"]);

    let cleared = ProductChanges { category_ids: Some(Vec::new()), ..Default::default() };
    let updated = stores.products.update(created.id, cleared, now(), &stock_change_rule(LOW_STOCK_RULE)).await.unwrap();
    assert!(updated.categories.is_empty(), "an empty set removes every link");
    assert!(get(&stores, created.id, None).await.categories.is_empty());
    assert!(stores.categories.list().await.unwrap().iter().all(|c| c.product_count == 0));
}

pub async fn updating_a_product_with_an_unknown_category_returns_invalid_reference_and_changes_nothing(
    stores: CatalogStores,
) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let created = stores
        .products
        .create(NewProduct { category_ids: vec![books.id], ..new_product(owner.id, "Notebook") })
        .await
        .unwrap();
    let changes = ProductChanges {
        name: Some(ProductName::parse("Renamed").unwrap()),
        price: Some(price(1)),
        category_ids: Some(vec![CategoryId(Uuid::now_v7())]),
        ..Default::default()
    };

    let err = stores
        .products
        .update(created.id, changes, created.updated_at + Duration::seconds(30), &stock_change_rule(LOW_STOCK_RULE))
        .await
        .unwrap_err();

    assert_eq!(err, StoreError::InvalidReference("category_ids".into()));
    assert_eq!(get(&stores, created.id, None).await, created, "nothing of a refused update is stored");
}

pub async fn updating_an_unknown_product_returns_not_found(stores: CatalogStores) {
    let changes = ProductChanges { stock: Some(stock(1)), ..Default::default() };

    let err = stores
        .products
        .update(ProductId(Uuid::now_v7()), changes, now(), &stock_change_rule(LOW_STOCK_RULE))
        .await
        .unwrap_err();

    assert_eq!(err, StoreError::NotFound);
}

pub async fn deleting_a_product_removes_it_with_its_likes_reviews_and_links(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let fan = create_user(&stores, "grace@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let doomed = stores
        .products
        .create(NewProduct { category_ids: vec![books.id], ..new_product(owner.id, "Doomed") })
        .await
        .unwrap();
    let kept = create_product(&stores, owner.id, "Kept").await;
    like(&stores, doomed.id, fan.id).await;
    like(&stores, kept.id, fan.id).await;
    let review = create_review(&stores, doomed.id, fan.id, 4).await;

    stores.products.delete(doomed.id).await.unwrap();

    assert_eq!(stores.products.get(doomed.id, None).await.unwrap(), None);
    let liked = stores.products.liked_by(fan.id, all()).await.unwrap();
    assert_eq!((liked.total, liked.items.iter().map(|p| p.id).collect::<Vec<_>>()), (1, vec![kept.id]));
    assert_eq!(stores.reviews.get(review.id).await.unwrap(), None);
    assert_eq!(stores.reviews.list_for_product(doomed.id, all()).await.unwrap().total, 0);
    assert_eq!(stores.categories.list().await.unwrap()[0].product_count, 0);
    assert_eq!(get(&stores, kept.id, None).await.like_count, 1, "other products keep their likes");
    assert_eq!(stores.products.delete(doomed.id).await.unwrap_err(), StoreError::NotFound, "a second delete");
}

pub async fn deleting_an_unknown_product_returns_not_found(stores: CatalogStores) {
    assert_eq!(stores.products.delete(ProductId(Uuid::now_v7())).await.unwrap_err(), StoreError::NotFound);
}
