//! Test data builders shared by the catalogue's contract tests.

use crate::CatalogStores;
use crate::suite::support::new_user;
pub use crate::suite::support::now;
use chrono::{DateTime, TimeDelta, Utc};
use storefront_app::ports::{NewProduct, NewReview, NewUser, PageRequest};
use storefront_domain::{
    Category, CategoryId, CategoryName, Description, LowStockRule, PriceCents, Product, ProductId, ProductName, Rating,
    Review, ReviewBody, ReviewId, Slug, Stock, User, UserId, UserName,
};
use uuid::Uuid;

/// The low-stock threshold the tests run with (the default configuration's).
pub const LOW_STOCK: i64 = 5;

/// The low-stock alert window the tests run with (the default configuration's).
pub const ALERT_WINDOW: TimeDelta = TimeDelta::hours(1);

/// When stock changes and placements raise `product.stock_low` in the tests.
pub const LOW_STOCK_RULE: LowStockRule = LowStockRule { threshold: LOW_STOCK, window: ALERT_WINDOW };

/// A page holding every row the tests create.
pub fn all() -> PageRequest {
    PageRequest { limit: 100, offset: 0 }
}

pub fn page(limit: u32, offset: u64) -> PageRequest {
    PageRequest { limit, offset }
}

pub async fn create_user(stores: &CatalogStores, raw_email: &str) -> User {
    stores.users.create(new_user(raw_email)).await.unwrap()
}

pub async fn create_named_user(stores: &CatalogStores, raw_email: &str, name: &str) -> User {
    let user = NewUser { name: UserName::parse(name).unwrap(), ..new_user(raw_email) };
    stores.users.create(user).await.unwrap()
}

/// A product of `owner` named `name`: no description, 10.00, 5 in stock, no category,
/// created now.
pub fn new_product(owner: UserId, name: &str) -> NewProduct {
    NewProduct {
        id: ProductId(Uuid::now_v7()),
        owner_id: owner,
        name: ProductName::parse(name).unwrap(),
        description: Description::default(),
        price: PriceCents::parse(1_000).unwrap(),
        stock: Stock::parse(5).unwrap(),
        category_ids: Vec::new(),
        created_at: now(),
    }
}

/// The product `new_product` describes, with the changes `with` makes to it.
pub async fn create_product_with(
    stores: &CatalogStores,
    owner: UserId,
    name: &str,
    with: impl FnOnce(&mut NewProduct),
) -> Product {
    let mut product = new_product(owner, name);
    with(&mut product);
    stores.products.create(product).await.unwrap()
}

pub async fn create_product(stores: &CatalogStores, owner: UserId, name: &str) -> Product {
    create_product_with(stores, owner, name, |_| {}).await
}

pub fn description(raw: &str) -> Description {
    Description::parse(raw).unwrap()
}

pub fn price(cents: i64) -> PriceCents {
    PriceCents::parse(cents).unwrap()
}

pub fn stock(units: i64) -> Stock {
    Stock::parse(units).unwrap()
}

pub fn slug(raw: &str) -> Slug {
    Slug::parse(raw).unwrap()
}

pub fn category_name(raw: &str) -> CategoryName {
    CategoryName::parse(raw).unwrap()
}

pub async fn create_category(stores: &CatalogStores, name: &str, raw_slug: &str) -> Category {
    stores.categories.create(CategoryId(Uuid::now_v7()), &category_name(name), &slug(raw_slug)).await.unwrap()
}

pub fn new_review(product: ProductId, author: UserId, rating: i64) -> NewReview {
    NewReview {
        id: ReviewId(Uuid::now_v7()),
        product_id: product,
        author_id: author,
        rating: Rating::parse(rating).unwrap(),
        body: ReviewBody::parse("Does what it says.").unwrap(),
        created_at: now(),
    }
}

pub async fn create_review(stores: &CatalogStores, product: ProductId, author: UserId, rating: i64) -> Review {
    stores.reviews.create(new_review(product, author, rating)).await.unwrap()
}

pub async fn create_review_at(
    stores: &CatalogStores,
    product: ProductId,
    author: UserId,
    created_at: DateTime<Utc>,
) -> Review {
    stores.reviews.create(NewReview { created_at, ..new_review(product, author, 3) }).await.unwrap()
}

pub async fn like(stores: &CatalogStores, product: ProductId, user: UserId) {
    stores.products.set_like(product, user, true, now()).await.unwrap();
}

/// The product as `viewer` sees it now; it must exist.
pub async fn get(stores: &CatalogStores, id: ProductId, viewer: Option<UserId>) -> Product {
    stores.products.get(id, viewer).await.unwrap().unwrap()
}

/// The names of products, in their order.
pub fn names(products: &[Product]) -> Vec<&str> {
    products.iter().map(|p| p.name.as_str()).collect()
}

/// `n` fresh ids in increasing order.
pub fn ascending_ids(n: usize) -> Vec<ProductId> {
    let mut ids: Vec<ProductId> = (0..n).map(|_| ProductId(Uuid::now_v7())).collect();
    ids.sort();
    ids
}
