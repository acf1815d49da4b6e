//! Persistence of the catalogue: products (with their like and review aggregates),
//! categories, likes and reviews.

use super::{AuditContext, Page, PageRequest};
use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefront_domain::{
    Category, CategoryId, CategoryName, Description, ModerationDecision, ModerationStatus, PriceCents, Product,
    ProductFilter, ProductId, ProductName, ProductPosition, ProductSort, RaisedEvents, Rating, Review, ReviewBody,
    ReviewId, ReviewVerdict, Slug, Stock, UserId, VerdictOutcome,
};

/// A product to insert.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub id: ProductId,
    pub owner_id: UserId,
    pub name: ProductName,
    pub description: Description,
    pub price: PriceCents,
    pub stock: Stock,
    pub category_ids: Vec<CategoryId>,
    pub created_at: DateTime<Utc>,
}

/// Product fields to change; `None` leaves a field as it is. `category_ids` replaces the
/// whole set.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub price: Option<PriceCents>,
    pub stock: Option<Stock>,
    pub category_ids: Option<Vec<CategoryId>>,
}

/// What a product's stock change raises, decided by the application
/// (`catalog::stock_change_rule`): given the product as changed, its stock before and when
/// it last raised `product.stock_low` (both read under lock), the events to write and the
/// low-stock alert time to record.
pub type StockEvents = dyn Fn(&Product, i64, Option<DateTime<Utc>>) -> RaisedEvents + Send + Sync;

/// A review to insert.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub id: ReviewId,
    pub product_id: ProductId,
    pub author_id: UserId,
    pub rating: Rating,
    pub body: ReviewBody,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ProductRepository: Send + Sync {
    /// Inserts a product linked to `category_ids`.
    ///
    /// # Errors
    /// MUST return `InvalidReference("category_ids")` when a category does not exist
    /// (and insert nothing).
    async fn create(&self, product: NewProduct) -> Result<Product, StoreError>;

    /// The product as `viewer` sees it (`liked_by_me`), if it exists.
    async fn get(&self, id: ProductId, viewer: Option<UserId>) -> Result<Option<Product>, StoreError>;

    /// One page of the products matching `filter` (`ProductFilter::matches`), in the
    /// order `ProductSort::compare` defines, with the count of all matches (`after` does
    /// not change it). With `after`, only the matches that come after that position
    /// (`ProductSort::is_after`) are paged, `page.offset` of them skipped first: a keyset
    /// page, whose cost does not grow with the depth. A page costs a constant number of
    /// queries whatever its size.
    async fn list(
        &self,
        filter: &ProductFilter,
        sort: ProductSort,
        page: PageRequest,
        after: Option<&ProductPosition>,
        viewer: Option<UserId>,
    ) -> Result<Page<Product>, StoreError>;

    /// Applies changes and bumps `updated_at`, in one transaction; when the changes set the
    /// stock, calls `stock_events` with the product as changed, its stock before and its
    /// last low-stock alert time (read under lock), writes the events it returns to the
    /// outbox and records the low-stock alert time it returns for the product, in the same
    /// transaction. A transaction run again calls `stock_events` again.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown product and `InvalidReference("category_ids")`
    /// for an unknown category (changing nothing, writing no event).
    async fn update(
        &self,
        id: ProductId,
        changes: ProductChanges,
        now: DateTime<Utc>,
        stock_events: &StockEvents,
    ) -> Result<Product, StoreError>;

    /// Deletes a product with its likes, reviews and category links.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown product.
    async fn delete(&self, id: ProductId) -> Result<(), StoreError>;

    /// Records (`liked = true`) or removes the user's like; idempotent and race-free: two
    /// concurrent likes by one user count once.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown product.
    async fn set_like(&self, id: ProductId, user: UserId, liked: bool, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The products the user likes, most recently liked first.
    async fn liked_by(&self, user: UserId, page: PageRequest) -> Result<Page<Product>, StoreError>;
}

#[async_trait]
pub trait CategoryRepository: Send + Sync {
    /// Every category with its product count, ordered by name, then id.
    async fn list(&self) -> Result<Vec<Category>, StoreError>;

    /// # Errors
    /// MUST return `Conflict` when the slug is taken.
    async fn create(&self, id: CategoryId, name: &CategoryName, slug: &Slug) -> Result<Category, StoreError>;

    /// # Errors
    /// MUST return `NotFound` for an unknown category and `Conflict` when the new slug is
    /// another category's.
    async fn update(
        &self,
        id: CategoryId,
        name: Option<&CategoryName>,
        slug: Option<&Slug>,
    ) -> Result<Category, StoreError>;

    /// Deletes a category; its products lose the link.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown category.
    async fn delete(&self, id: CategoryId) -> Result<(), StoreError>;
}

#[async_trait]
pub trait ReviewRepository: Send + Sync {
    /// Inserts a review (revision 1, approved until checked: `ReviewModeration::default()`)
    /// and, in the same transaction, updates the product's review count and rating and
    /// writes `review.created` (`DomainEvent::review_created`) to the outbox.
    ///
    /// # Errors
    /// MUST return `AlreadyExists` when the author already reviewed the product (enforced
    /// by a unique constraint, so concurrent attempts cannot both succeed) and `NotFound`
    /// for an unknown product.
    async fn create(&self, review: NewReview) -> Result<Review, StoreError>;

    /// The review whatever its moderation status (who may see it is the caller's rule).
    async fn get(&self, id: ReviewId) -> Result<Option<Review>, StoreError>;

    /// The product's public reviews (`ModerationStatus::is_public`), newest first
    /// (created_at, then id, descending); `total` counts the same reviews.
    async fn list_for_product(&self, product: ProductId, page: PageRequest) -> Result<Page<Review>, StoreError>;

    /// The product's reviews as `viewer` lists them (`ReviewViewer::lists`): the public
    /// ones and the viewer's own whatever its status, in the order of `list_for_product`.
    async fn list_for_viewer(
        &self,
        product: ProductId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<Review>, StoreError>;

    /// Every review in `status`, newest first (the moderators' queue).
    async fn list_by_status(&self, status: ModerationStatus, page: PageRequest) -> Result<Page<Review>, StoreError>;

    /// Changes rating and/or body and bumps `updated_at`; a body that differs from the
    /// stored one bumps `revision` too. In the same transaction: keeps the product's rating
    /// right and writes `review.updated` (`DomainEvent::review_updated`, the review as
    /// changed) to the outbox. The moderation status is kept (a hidden review stays hidden
    /// until its new text is checked).
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown review.
    async fn update(
        &self,
        id: ReviewId,
        rating: Option<Rating>,
        body: Option<ReviewBody>,
        now: DateTime<Utc>,
    ) -> Result<Review, StoreError>;

    /// Offers an automatic check's verdict: in one transaction, locks the review, asks
    /// `storefront_domain::verdict_outcome` with its revision and the revision a moderator
    /// last decided on, and stores status, toxicity and `checked_at` only when it answers
    /// `Recorded`. The product's count and rating follow a change of status in the same
    /// transaction.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown (or deleted) review.
    async fn record_verdict(&self, id: ReviewId, verdict: ReviewVerdict) -> Result<VerdictOutcome, StoreError>;

    /// A moderator's decision, in one transaction: sets the status the decision gives, with
    /// `checked_at = ctx.now`, records the revision decided on (so that no verdict on it
    /// overrides the decision) and who decided, keeps the product's count and rating right,
    /// and writes the audit entry `ModerationDecision::audit` (actor and time from `ctx`).
    /// Returns the review as decided.
    ///
    /// # Errors
    /// MUST return `NotFound` for an unknown review.
    async fn decide(&self, id: ReviewId, decision: ModerationDecision, ctx: AuditContext)
    -> Result<Review, StoreError>;

    /// # Errors
    /// MUST return `NotFound` for an unknown review.
    async fn delete(&self, id: ReviewId) -> Result<(), StoreError>;
}
