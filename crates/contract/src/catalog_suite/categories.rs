//! Contract of `CategoryRepository`: unique slugs, the listing by name with product
//! counts, and what renaming or deleting a category does to its products.

use super::support::{category_name, create_category, create_product, create_user, get, new_product, slug};
use crate::CatalogStores;
use storefront_app::StoreError;
use storefront_app::ports::NewProduct;
use storefront_domain::{Category, CategoryId, ProductFilter, ProductSort};
use uuid::Uuid;

pub async fn a_created_category_is_returned_and_listed_without_products(stores: CatalogStores) {
    let id = CategoryId(Uuid::now_v7());

    let created =
        stores.categories.create(id, &category_name("Home & Garden"), &slug("home-and-garden")).await.unwrap();

    let expected = Category { id, name: "Home & Garden".into(), slug: "home-and-garden".into(), product_count: 0 };
    assert_eq!(created, expected);
    assert_eq!(stores.categories.list().await.unwrap(), vec![expected]);
}

pub async fn categories_are_listed_by_name_then_id_with_their_product_counts(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let toys = create_category(&stores, "Toys", "toys").await;
    let books = create_category(&stores, "Books", "books").await;
    let games = create_category(&stores, "Games", "games").await;
    let mut twins = [
        create_category(&stores, "Games", "games-2").await,
        create_category(&stores, "Games", "games-3").await,
        games.clone(),
    ];
    twins.sort_by_key(|c| c.id);
    for (name, categories) in
        [("Chess", vec![games.id, books.id]), ("Go", vec![games.id]), ("Poker", vec![games.id, toys.id])]
    {
        stores.products.create(NewProduct { category_ids: categories, ..new_product(owner.id, name) }).await.unwrap();
    }

    let listed = stores.categories.list().await.unwrap();

    let shown: Vec<(&str, &str, u64)> =
        listed.iter().map(|c| (c.name.as_str(), c.slug.as_str(), c.product_count)).collect();
    let mut expected = vec![("Books", "books", 1)];
    expected.extend(twins.iter().map(|c| ("Games", c.slug.as_str(), if c.id == games.id { 3 } else { 0 })));
    expected.push(("Toys", "toys", 1));
    assert_eq!(shown, expected);
}

pub async fn creating_a_category_with_a_taken_slug_is_a_conflict(stores: CatalogStores) {
    create_category(&stores, "Books", "books").await;
    let id = CategoryId(Uuid::now_v7());

    let err = stores.categories.create(id, &category_name("Other books"), &slug("books")).await.unwrap_err();

    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let listed = stores.categories.list().await.unwrap();
    assert_eq!((listed.len(), listed[0].name.as_str()), (1, "Books"), "nothing of a refused create is stored");
    stores.categories.create(id, &category_name("Books"), &slug("books-2")).await.expect("a name may repeat");
}

pub async fn updating_a_category_renames_it_on_its_products_too(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let product = stores
        .products
        .create(NewProduct { category_ids: vec![books.id], ..new_product(owner.id, "Notebook") })
        .await
        .unwrap();

    let updated = stores
        .categories
        .update(books.id, Some(&category_name("Paper goods")), Some(&slug("paper-goods")))
        .await
        .unwrap();

    let expected = Category { id: books.id, name: "Paper goods".into(), slug: "paper-goods".into(), product_count: 1 };
    assert_eq!(updated, expected);
    assert_eq!(stores.categories.list().await.unwrap(), vec![expected]);
    let shown = get(&stores, product.id, None).await.categories;
    assert_eq!((shown[0].name.as_str(), shown[0].slug.as_str()), ("Paper goods", "paper-goods"));
    let by_new_slug = ProductFilter { category: Some("paper-goods".into()), ..Default::default() };
    let listed =
        stores.products.list(&by_new_slug, ProductSort::default(), super::support::all(), None, None).await.unwrap();
    assert_eq!(listed.total, 1);
    let by_old_slug = ProductFilter { category: Some("books".into()), ..Default::default() };
    let listed =
        stores.products.list(&by_old_slug, ProductSort::default(), super::support::all(), None, None).await.unwrap();
    assert_eq!(listed.total, 0, "the old slug no longer selects it");
}

pub async fn updating_only_a_categorys_name_keeps_its_slug_and_the_reverse(stores: CatalogStores) {
    let books = create_category(&stores, "Books", "books").await;

    let renamed = stores.categories.update(books.id, Some(&category_name("Novels")), None).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.slug.as_str()), ("Novels", "books"));

    let reslugged = stores.categories.update(books.id, None, Some(&slug("novels"))).await.unwrap();
    assert_eq!((reslugged.name.as_str(), reslugged.slug.as_str()), ("Novels", "novels"));

    let untouched = stores.categories.update(books.id, None, None).await.unwrap();
    assert_eq!(untouched, reslugged);
}

pub async fn updating_a_category_to_another_categorys_slug_is_a_conflict_but_its_own_is_fine(stores: CatalogStores) {
    let books = create_category(&stores, "Books", "books").await;
    let games = create_category(&stores, "Games", "games").await;

    let err =
        stores.categories.update(games.id, Some(&category_name("Renamed")), Some(&slug("books"))).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(stores.categories.list().await.unwrap(), vec![books.clone(), games.clone()], "nothing changed");

    let same = stores.categories.update(books.id, Some(&category_name("Books")), Some(&slug("books"))).await.unwrap();
    assert_eq!(same, books);
}

pub async fn updating_or_deleting_an_unknown_category_returns_not_found(stores: CatalogStores) {
    let unknown = CategoryId(Uuid::now_v7());

    let err = stores.categories.update(unknown, Some(&category_name("Ghost")), None).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound);
    assert_eq!(stores.categories.delete(unknown).await.unwrap_err(), StoreError::NotFound);
}

pub async fn deleting_a_category_unlinks_its_products_and_keeps_them(stores: CatalogStores) {
    let owner = create_user(&stores, "ada@example.com").await;
    let books = create_category(&stores, "Books", "books").await;
    let games = create_category(&stores, "Games", "games").await;
    let product = stores
        .products
        .create(NewProduct { category_ids: vec![books.id, games.id], ..new_product(owner.id, "Puzzle book") })
        .await
        .unwrap();
    let plain = create_product(&stores, owner.id, "Pencil").await;

    stores.categories.delete(books.id).await.unwrap();

    let seen = get(&stores, product.id, None).await;
    assert_eq!(seen.categories.iter().map(|c| c.id).collect::<Vec<_>>(), vec![games.id]);
    assert_eq!(get(&stores, plain.id, None).await, plain);
    assert_eq!(stores.categories.list().await.unwrap(), vec![Category { product_count: 1, ..games }]);
    assert_eq!(stores.categories.delete(books.id).await.unwrap_err(), StoreError::NotFound, "a second delete");
    // The slug is free again.
    create_category(&stores, "Books", "books").await;
}
