//! The catalogue's use cases: products with owner-based authorization, categories, likes
//! and reviews.

use crate::lifecycle::VerifiedEmailRule;
use crate::ports::{
    AuditContext, CategoryRepository, Clock, IdGenerator, NewProduct, NewReview, Page, PageRequest, ProductChanges,
    ProductRepository, ReviewRepository,
};
use crate::{AppError, Principal, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use storefront_domain::text::search_term;
use storefront_domain::{
    Category, CategoryId, CategoryName, Description, FieldViolation, LowStockRule, ModerationDecision,
    ModerationStatus, Permission, PriceCents, Product, ProductFilter, ProductId, ProductName, ProductPosition,
    ProductSort, RaisedEvents, Rating, Review, ReviewBody, ReviewId, ReviewViewer, Slug, Stock, ValidationError,
    stock_change_events,
};

/// Who is looking at reviews, from the caller (if signed in): the reviews it may see and
/// whether it sees their `moderation` follow from it (`ReviewViewer`).
pub fn review_viewer(caller: Option<&Principal>) -> ReviewViewer {
    caller.map_or(ReviewViewer::PUBLIC, |p| ReviewViewer::user(p.user.id, &p.permissions))
}

/// A product as submitted for creation (bounds are checked here).
#[derive(Debug, Clone, Default)]
pub struct ProductInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub stock: Option<i64>,
    pub category_ids: Option<Vec<CategoryId>>,
}

/// A review as submitted.
#[derive(Debug, Clone, Default)]
pub struct ReviewInput {
    pub rating: Option<i64>,
    pub body: Option<String>,
}

/// A page of the product listing, with where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductListing {
    pub items: Vec<Product>,
    /// How many products match, on every page.
    pub total: u64,
    /// The position of this page's last product when more follow; `None` on the last page.
    pub next: Option<ProductPosition>,
}

#[derive(Clone)]
pub struct CatalogService {
    products: Arc<dyn ProductRepository>,
    categories: Arc<dyn CategoryRepository>,
    reviews: Arc<dyn ReviewRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// When a stock change raises `product.stock_low`.
    low_stock: LowStockRule,
    verified_email: VerifiedEmailRule,
}

/// Collects field violations while parsing several fields.
#[derive(Default)]
struct Violations(Vec<FieldViolation>);

impl Violations {
    fn check<T>(&mut self, field: &str, parsed: Result<T, ValidationError>) -> Option<T> {
        parsed.map_err(|e| self.0.push(e.at(field))).ok()
    }

    fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() { Ok(()) } else { Err(AppError::Validation(self.0)) }
    }
}

fn changes_from(input: &ProductInput, v: &mut Violations) -> ProductChanges {
    ProductChanges {
        name: input.name.as_deref().and_then(|raw| v.check("name", ProductName::parse(raw))),
        description: input.description.as_deref().and_then(|raw| v.check("description", Description::parse(raw))),
        price: input.price_cents.and_then(|raw| v.check("price_cents", PriceCents::parse(raw))),
        stock: input.stock.and_then(|raw| v.check("stock", Stock::parse(raw))),
        category_ids: input.category_ids.clone().map(|mut ids| {
            ids.sort();
            ids.dedup();
            ids
        }),
    }
}

impl CatalogService {
    pub fn new(
        products: Arc<dyn ProductRepository>,
        categories: Arc<dyn CategoryRepository>,
        reviews: Arc<dyn ReviewRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        low_stock: LowStockRule,
    ) -> Self {
        Self { products, categories, reviews, clock, ids, low_stock, verified_email: VerifiedEmailRule::default() }
    }

    /// The same service, refusing reviewers without a verified email if `rule` says so.
    pub fn with_verified_email_rule(mut self, rule: VerifiedEmailRule) -> Self {
        self.verified_email = rule;
        self
    }

    /// A page of the products `filter` selects in `sort` order, from `page.offset` or, with
    /// `after` (a previous page's `next`), right after that position.
    pub async fn list_products(
        &self,
        filter: ProductFilter,
        sort: ProductSort,
        page: PageRequest,
        after: Option<ProductPosition>,
        viewer: Option<&Principal>,
    ) -> Result<ProductListing, AppError> {
        if let (Some(min), Some(max)) = (filter.min_price, filter.max_price)
            && min > max
        {
            return Err(AppError::validation("min_price", "must not be greater than max_price"));
        }
        // A bounded search text keeps one request from costing a scan with a huge pattern.
        if filter.q.as_deref().is_some_and(|q| q.chars().count() > ProductFilter::MAX_QUERY_CHARS) {
            let message = format!("must be at most {} characters", ProductFilter::MAX_QUERY_CHARS);
            return Err(AppError::validation("q", message));
        }
        if let Some(Err(e)) = filter.q.as_deref().map(search_term) {
            return Err(AppError::Validation(vec![e.at("q")]));
        }
        // One more than asked for says whether a next page exists, in the same statement.
        let probe = PageRequest { limit: page.limit.saturating_add(1), offset: page.offset };
        let Page { mut items, total } =
            self.products.list(&filter, sort, probe, after.as_ref(), viewer.map(|p| p.user.id)).await?;
        let more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        let next = if more { items.last().map(|last| sort.position_of(last)) } else { None };
        Ok(ProductListing { items, total, next })
    }

    pub async fn product(&self, id: ProductId, viewer: Option<&Principal>) -> Result<Product, AppError> {
        self.products.get(id, viewer.map(|p| p.user.id)).await?.ok_or(AppError::NotFound)
    }

    /// Creates a product owned by the caller (who holds `products:create`).
    pub async fn create_product(&self, owner: &Principal, input: ProductInput) -> Result<Product, AppError> {
        let mut v = Violations::default();
        if input.name.is_none() {
            v.0.push(FieldViolation::new("name", "is required"));
        }
        if input.price_cents.is_none() {
            v.0.push(FieldViolation::new("price_cents", "is required"));
        }
        if input.stock.is_none() {
            v.0.push(FieldViolation::new("stock", "is required"));
        }
        let changes = changes_from(&input, &mut v);
        v.finish()?;
        let (Some(name), Some(price), Some(stock)) = (changes.name, changes.price, changes.stock) else {
            return Err(AppError::Internal("validated fields missing".into()));
        };
        let product = NewProduct {
            id: self.ids.new_id().into(),
            owner_id: owner.user.id,
            name,
            description: changes.description.unwrap_or_default(),
            price,
            stock,
            category_ids: changes.category_ids.unwrap_or_default(),
            created_at: self.clock.now(),
        };
        Ok(self.products.create(product).await?)
    }

    /// The product, if the caller owns it or holds `overriding`; else `Forbidden`.
    async fn authorize_product(
        &self,
        caller: &Principal,
        id: ProductId,
        overriding: Permission,
    ) -> Result<Product, AppError> {
        let product = self.products.get(id, Some(caller.user.id)).await?.ok_or(AppError::NotFound)?;
        if product.owner_id == caller.user.id || caller.permissions.contains(overriding) {
            Ok(product)
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Changes a product: its owner, or a holder of `products:update_any`.
    pub async fn update_product(
        &self,
        caller: &Principal,
        id: ProductId,
        input: ProductInput,
    ) -> Result<Product, AppError> {
        let mut v = Violations::default();
        let changes = changes_from(&input, &mut v);
        v.finish()?;
        self.authorize_product(caller, id, Permission::ProductsUpdateAny).await?;
        let stock_events = stock_change_rule(self.low_stock);
        self.products.update(id, changes, self.clock.now(), &stock_events).await?;
        self.product(id, Some(caller)).await
    }

    /// Deletes a product: its owner, or a holder of `products:delete_any`.
    pub async fn delete_product(&self, caller: &Principal, id: ProductId) -> Result<(), AppError> {
        self.authorize_product(caller, id, Permission::ProductsDeleteAny).await?;
        Ok(self.products.delete(id).await?)
    }

    pub async fn set_like(&self, caller: &Principal, id: ProductId, liked: bool) -> Result<(), AppError> {
        Ok(self.products.set_like(id, caller.user.id, liked, self.clock.now()).await?)
    }

    pub async fn my_likes(&self, caller: &Principal, page: PageRequest) -> Result<Page<Product>, AppError> {
        Ok(self.products.liked_by(caller.user.id, page).await?)
    }

    pub async fn categories(&self) -> Result<Vec<Category>, AppError> {
        Ok(self.categories.list().await?)
    }

    /// Creates a category. A given slug must be free (409); a slug derived from the name
    /// gets a numeric suffix until it is.
    pub async fn create_category(&self, name: &str, slug: Option<&str>) -> Result<Category, AppError> {
        let mut v = Violations::default();
        let name = v.check("name", CategoryName::parse(name));
        let given = slug.and_then(|raw| v.check("slug", Slug::parse(raw)));
        v.finish()?;
        let Some(name) = name else { return Err(AppError::Internal("validated name missing".into())) };
        let id: CategoryId = self.ids.new_id().into();
        if let Some(slug) = given {
            return Ok(self.categories.create(id, &name, &slug).await?);
        }
        let base = Slug::from_name(name.as_str());
        for attempt in 1..=50u32 {
            let slug = if attempt == 1 { base.clone() } else { base.with_suffix(attempt) };
            match self.categories.create(id, &name, &slug).await {
                Err(StoreError::Conflict(_)) => continue,
                other => return Ok(other?),
            }
        }
        Err(AppError::Conflict("no free slug could be derived from this name; give one".into()))
    }

    pub async fn update_category(
        &self,
        id: CategoryId,
        name: Option<&str>,
        slug: Option<&str>,
    ) -> Result<Category, AppError> {
        let mut v = Violations::default();
        let name = name.and_then(|raw| v.check("name", CategoryName::parse(raw)));
        let slug = slug.and_then(|raw| v.check("slug", Slug::parse(raw)));
        v.finish()?;
        Ok(self.categories.update(id, name.as_ref(), slug.as_ref()).await?)
    }

    pub async fn delete_category(&self, id: CategoryId) -> Result<(), AppError> {
        Ok(self.categories.delete(id).await?)
    }

    /// The product's reviews as `viewer` lists them: the public ones, and the viewer's own
    /// whatever its moderation status.
    pub async fn reviews(
        &self,
        product: ProductId,
        page: PageRequest,
        viewer: Option<&Principal>,
    ) -> Result<Page<Review>, AppError> {
        self.products.get(product, None).await?.ok_or(AppError::NotFound)?;
        Ok(match viewer {
            Some(viewer) => self.reviews.list_for_viewer(product, viewer.user.id, page).await?,
            None => self.reviews.list_for_product(product, page).await?,
        })
    }

    /// One review: public, like the product's review list, while it is approved; a hidden
    /// one only for its author and moderators (`NotFound` for anyone else, so that hiding
    /// it leaks nothing).
    pub async fn review(&self, id: ReviewId, viewer: Option<&Principal>) -> Result<Review, AppError> {
        let review = self.reviews.get(id).await?.ok_or(AppError::NotFound)?;
        if review_viewer(viewer).sees(&review) { Ok(review) } else { Err(AppError::NotFound) }
    }

    /// The moderators' queue: the reviews in `status` (default `flagged`), newest first.
    pub async fn moderation_queue(&self, status: Option<&str>, page: PageRequest) -> Result<Page<Review>, AppError> {
        let status = match status {
            None => ModerationStatus::Flagged,
            Some(raw) => ModerationStatus::parse(raw)
                .ok_or_else(|| AppError::validation("status", "must be one of flagged, rejected, approved"))?,
        };
        Ok(self.reviews.list_by_status(status, page).await?)
    }

    /// A moderator's decision on a review (the caller holds `reviews:moderate`), audited
    /// in the same transaction; `NotFound` for an unknown review.
    pub async fn decide_review(&self, caller: &Principal, id: ReviewId, decision: &str) -> Result<Review, AppError> {
        let decision = ModerationDecision::parse(decision)
            .ok_or_else(|| AppError::validation("decision", "must be approve or reject"))?;
        let ctx = AuditContext { actor: caller.user.id, now: self.clock.now() };
        Ok(self.reviews.decide(id, decision, ctx).await?)
    }

    /// Reviews a product: once per user, never one's own product.
    pub async fn create_review(
        &self,
        author: &Principal,
        product: ProductId,
        input: ReviewInput,
    ) -> Result<Review, AppError> {
        self.verified_email.check(author)?;
        let mut v = Violations::default();
        let rating = match input.rating {
            Some(raw) => v.check("rating", Rating::parse(raw)),
            None => {
                v.0.push(FieldViolation::new("rating", "is required"));
                None
            }
        };
        let body = v.check("body", ReviewBody::parse(input.body.as_deref().unwrap_or(""))).unwrap_or_default();
        v.finish()?;
        let Some(rating) = rating else { return Err(AppError::Internal("validated rating missing".into())) };
        let target = self.products.get(product, None).await?.ok_or(AppError::NotFound)?;
        if target.owner_id == author.user.id {
            return Err(AppError::Forbidden);
        }
        let review = NewReview {
            id: self.ids.new_id().into(),
            product_id: product,
            author_id: author.user.id,
            rating,
            body,
            created_at: self.clock.now(),
        };
        match self.reviews.create(review).await {
            Err(StoreError::AlreadyExists) => Err(AppError::ReviewExists),
            other => Ok(other?),
        }
    }

    /// Edits a review: its author only (a hidden review is unknown to anyone but its author
    /// and moderators).
    pub async fn update_review(
        &self,
        caller: &Principal,
        id: ReviewId,
        input: ReviewInput,
    ) -> Result<Review, AppError> {
        let mut v = Violations::default();
        let rating = input.rating.and_then(|raw| v.check("rating", Rating::parse(raw)));
        let body = input.body.as_deref().and_then(|raw| v.check("body", ReviewBody::parse(raw)));
        v.finish()?;
        let review = self.reviews.get(id).await?.ok_or(AppError::NotFound)?;
        if !review_viewer(Some(caller)).sees(&review) {
            return Err(AppError::NotFound);
        }
        if review.author.id != caller.user.id {
            return Err(AppError::Forbidden);
        }
        Ok(self.reviews.update(id, rating, body, self.clock.now()).await?)
    }

    /// Deletes a review: its author, or a holder of `reviews:moderate`. A hidden review is
    /// unknown to anyone else.
    pub async fn delete_review(&self, caller: &Principal, id: ReviewId) -> Result<(), AppError> {
        let review = self.reviews.get(id).await?.ok_or(AppError::NotFound)?;
        if !review_viewer(Some(caller)).sees(&review) {
            return Err(AppError::NotFound);
        }
        if review.author.id != caller.user.id && !caller.permissions.contains(Permission::ReviewsModerate) {
            return Err(AppError::Forbidden);
        }
        Ok(self.reviews.delete(id).await?)
    }
}

/// What a product's stock change raises (`storefront_domain::stock_change_events`): given
/// the product as changed, its stock before and when it last alerted, `product.stock_low`
/// when the stock crossed the threshold downwards and the product has not alerted within
/// the rule's window (with the alert time to record).
pub fn stock_change_rule(
    low_stock: LowStockRule,
) -> impl Fn(&Product, i64, Option<DateTime<Utc>>) -> RaisedEvents + Send + Sync {
    move |product, before, last_alerted| {
        stock_change_events(
            product.id,
            &product.name,
            before,
            product.stock,
            last_alerted,
            low_stock,
            product.updated_at,
        )
    }
}
