//! `ProductRepository`, `CategoryRepository` and `ReviewRepository` over the in-memory
//! state: products with their category links, likes and reviews, and the listing that
//! follows the domain's reference filter and order to the letter.

use crate::admin::page_of;
use crate::records::{StoredCategory, StoredProduct, StoredReview};
use crate::store::{MemoryStore, State};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use storefront_app::StoreError;
use storefront_app::ports::{
    AuditContext, CategoryRepository, NewProduct, NewReview, Page, PageRequest, ProductChanges, ProductRepository,
    ReviewRepository, StockEvents,
};
use storefront_domain::{
    Category, CategoryId, CategoryName, CategoryRef, DomainEvent, ModerationDecision, ModerationStatus, Product,
    ProductFilter, ProductId, ProductPosition, ProductSort, Rating, Review, ReviewAuthor, ReviewBody, ReviewId,
    ReviewModeration, ReviewVerdict, Slug, UserId, VerdictOutcome, rating_average, verdict_outcome,
};

/// A product's likes and reviews, summed up.
#[derive(Default)]
struct Tally {
    likes: u64,
    reviews: i64,
    rating_sum: i64,
}

impl State {
    /// Records when products last raised `product.stock_low`; a product gone is skipped.
    pub(crate) fn record_low_stock_alerts(&mut self, alerts: &[(ProductId, DateTime<Utc>)]) {
        for (id, at) in alerts {
            if let Some(product) = self.products.get_mut(id) {
                product.low_stock_alerted_at = Some(*at);
            }
        }
    }

    /// The products `wanted` selects as `viewer` sees them, in no particular order. One pass
    /// over the likes, reviews and links, however many products are wanted.
    fn product_views(&self, wanted: impl Fn(ProductId) -> bool, viewer: Option<UserId>) -> Vec<Product> {
        let mut tallies: HashMap<ProductId, Tally> = HashMap::new();
        let mut liked_by_viewer: HashSet<ProductId> = HashSet::new();
        for &(product, user) in self.likes.keys().filter(|(product, _)| wanted(*product)) {
            tallies.entry(product).or_default().likes += 1;
            if Some(user) == viewer {
                liked_by_viewer.insert(product);
            }
        }
        // Hidden reviews count for nothing (`ModerationStatus::is_public`).
        for review in self.reviews.values().filter(|r| wanted(r.product_id) && r.moderation.status.is_public()) {
            let tally = tallies.entry(review.product_id).or_default();
            tally.reviews += 1;
            tally.rating_sum += i64::from(review.rating);
        }
        let mut categories: HashMap<ProductId, Vec<CategoryRef>> = HashMap::new();
        for &(product, category) in self.product_categories.iter().filter(|(product, _)| wanted(*product)) {
            if let Some(stored) = self.categories.get(&category) {
                let shown = CategoryRef { id: category, name: stored.name.clone(), slug: stored.slug.clone() };
                categories.entry(product).or_default().push(shown);
            }
        }
        let empty = Tally::default();
        self.products
            .iter()
            .filter(|(id, _)| wanted(**id))
            .map(|(&id, stored)| {
                let tally = tallies.get(&id).unwrap_or(&empty);
                let mut categories = categories.remove(&id).unwrap_or_default();
                categories.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
                Product {
                    id,
                    owner_id: stored.owner_id,
                    name: stored.name.clone(),
                    description: stored.description.clone(),
                    price_cents: stored.price_cents,
                    stock: stored.stock,
                    categories,
                    like_count: tally.likes,
                    review_count: u64::try_from(tally.reviews).unwrap_or(0),
                    rating_avg: rating_average(tally.rating_sum, tally.reviews),
                    liked_by_me: liked_by_viewer.contains(&id),
                    created_at: stored.created_at,
                    updated_at: stored.updated_at,
                }
            })
            .collect()
    }

    fn product_view(&self, id: ProductId, viewer: Option<UserId>) -> Result<Product, StoreError> {
        self.product_views(|p| p == id, viewer).pop().ok_or(StoreError::NotFound)
    }

    fn check_categories(&self, ids: &[CategoryId]) -> Result<(), StoreError> {
        if ids.iter().all(|id| self.categories.contains_key(id)) {
            Ok(())
        } else {
            Err(StoreError::InvalidReference("category_ids".into()))
        }
    }

    fn link_categories(&mut self, product: ProductId, ids: &[CategoryId]) {
        self.product_categories.retain(|(p, _)| *p != product);
        self.product_categories.extend(ids.iter().map(|&category| (product, category)));
    }

    /// Removes a product with its likes, reviews and category links; false if unknown.
    fn remove_product(&mut self, id: ProductId) -> bool {
        if self.products.remove(&id).is_none() {
            return false;
        }
        self.product_categories.retain(|(p, _)| *p != id);
        self.likes.retain(|(p, _), _| *p != id);
        self.reviews.retain(|_, r| r.product_id != id);
        true
    }

    /// What deleting a user takes from the catalogue: its products (with everything
    /// attached to them), its likes and its reviews.
    pub(crate) fn remove_catalogue_of(&mut self, user: UserId) {
        let owned: Vec<ProductId> =
            self.products.iter().filter(|(_, p)| p.owner_id == user).map(|(&id, _)| id).collect();
        for product in owned {
            self.remove_product(product);
        }
        self.likes.retain(|(_, u), _| *u != user);
        self.reviews.retain(|_, r| r.author_id != user);
    }

    fn category(&self, id: CategoryId) -> Result<Category, StoreError> {
        let stored = self.categories.get(&id).ok_or(StoreError::NotFound)?;
        let product_count = self.product_categories.iter().filter(|(_, c)| *c == id).count() as u64;
        Ok(Category { id, name: stored.name.clone(), slug: stored.slug.clone(), product_count })
    }

    fn slug_taken(&self, slug: &Slug, except: Option<CategoryId>) -> bool {
        self.categories.iter().any(|(&id, c)| Some(id) != except && c.slug == slug.as_str())
    }

    /// The reviews `wanted` selects, newest first (created_at, then id, descending), paged.
    fn review_page(
        &self,
        wanted: impl Fn(&StoredReview) -> bool,
        page: PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        let mut matching: Vec<(ReviewId, &StoredReview)> =
            self.reviews.iter().filter(|(_, r)| wanted(r)).map(|(&id, r)| (id, r)).collect();
        matching.sort_by_key(|(id, r)| Reverse((r.created_at, *id)));
        let page = page_of(matching, page);
        let items = page.items.into_iter().map(|(id, r)| self.review_view(id, r)).collect::<Result<_, _>>()?;
        Ok(Page { items, total: page.total })
    }

    fn review(&self, id: ReviewId) -> Result<Review, StoreError> {
        let stored = self.reviews.get(&id).ok_or(StoreError::NotFound)?;
        self.review_view(id, stored)
    }

    /// A review with its author's current name.
    fn review_view(&self, id: ReviewId, stored: &StoredReview) -> Result<Review, StoreError> {
        let author = self
            .users
            .get(&stored.author_id)
            .ok_or_else(|| StoreError::Internal(format!("review {id} outlived its author")))?;
        Ok(Review {
            id,
            product_id: stored.product_id,
            author: ReviewAuthor { id: stored.author_id, name: author.user.name.as_str().to_owned() },
            rating: stored.rating,
            body: stored.body.clone(),
            // Computed on every read, so that it follows cancellations.
            verified_purchase: self.has_bought(stored.author_id, stored.product_id),
            revision: stored.revision,
            moderation: stored.moderation,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        })
    }
}

#[async_trait]
impl ProductRepository for MemoryStore {
    async fn create(&self, new: NewProduct) -> Result<Product, StoreError> {
        let mut state = self.state.lock().await;
        if state.products.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!("product {} already exists", new.id)));
        }
        state.check_categories(&new.category_ids)?;
        // What the database's foreign key would refuse.
        if !state.users.contains_key(&new.owner_id) {
            return Err(StoreError::InvalidReference("owner_id".into()));
        }
        let stored = StoredProduct {
            owner_id: new.owner_id,
            name: new.name.as_str().to_owned(),
            description: new.description.as_str().to_owned(),
            price_cents: new.price.get(),
            stock: new.stock.get(),
            created_at: new.created_at,
            updated_at: new.created_at,
            low_stock_alerted_at: None,
        };
        state.products.insert(new.id, stored);
        state.link_categories(new.id, &new.category_ids);
        state.product_view(new.id, None)
    }

    async fn get(&self, id: ProductId, viewer: Option<UserId>) -> Result<Option<Product>, StoreError> {
        let state = self.state.lock().await;
        Ok(state.product_views(|p| p == id, viewer).pop())
    }

    async fn list(
        &self,
        filter: &ProductFilter,
        sort: ProductSort,
        page: PageRequest,
        after: Option<&ProductPosition>,
        viewer: Option<UserId>,
    ) -> Result<Page<Product>, StoreError> {
        let state = self.state.lock().await;
        let mut matching: Vec<Product> =
            state.product_views(|_| true, viewer).into_iter().filter(|p| filter.matches(p)).collect();
        matching.sort_by(|a, b| sort.compare(a, b));
        let total = matching.len() as u64;
        if let Some(position) = after {
            matching.retain(|p| sort.is_after(p, position));
        }
        Ok(Page { total, ..page_of(matching, page) })
    }

    async fn update(
        &self,
        id: ProductId,
        changes: ProductChanges,
        now: DateTime<Utc>,
        stock_events: &StockEvents,
    ) -> Result<Product, StoreError> {
        let mut state = self.state.lock().await;
        if !state.products.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        if let Some(ids) = &changes.category_ids {
            state.check_categories(ids)?;
        }
        let stored = state.products.get_mut(&id).ok_or(StoreError::NotFound)?;
        if let Some(name) = changes.name {
            stored.name = name.as_str().to_owned();
        }
        if let Some(description) = changes.description {
            stored.description = description.as_str().to_owned();
        }
        if let Some(price) = changes.price {
            stored.price_cents = price.get();
        }
        let stock_before = changes.stock.map(|_| (stored.stock, stored.low_stock_alerted_at));
        if let Some(stock) = changes.stock {
            stored.stock = stock.get();
        }
        stored.updated_at = now;
        if let Some(ids) = changes.category_ids {
            state.link_categories(id, &ids);
        }
        let product = state.product_view(id, None)?;
        if let Some((before, last_alerted)) = stock_before {
            let raised = stock_events(&product, before, last_alerted);
            state.record_low_stock_alerts(&raised.low_stock_alerted);
            state.append_events(raised.events);
        }
        Ok(product)
    }

    async fn delete(&self, id: ProductId) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if state.remove_product(id) { Ok(()) } else { Err(StoreError::NotFound) }
    }

    async fn set_like(&self, id: ProductId, user: UserId, liked: bool, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if !state.products.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        if !state.users.contains_key(&user) {
            return Err(StoreError::InvalidReference("user_id".into()));
        }
        if liked {
            // A repeated like keeps the first one's time, as an insert that ignores
            // duplicates would.
            state.likes.entry((id, user)).or_insert(now);
        } else {
            state.likes.remove(&(id, user));
        }
        Ok(())
    }

    async fn liked_by(&self, user: UserId, page: PageRequest) -> Result<Page<Product>, StoreError> {
        let state = self.state.lock().await;
        let liked_at: HashMap<ProductId, DateTime<Utc>> =
            state.likes.iter().filter(|((_, u), _)| *u == user).map(|(&(p, _), &at)| (p, at)).collect();
        let mut liked = state.product_views(|p| liked_at.contains_key(&p), Some(user));
        liked.sort_by_key(|p| Reverse((liked_at.get(&p.id).copied(), p.id)));
        Ok(page_of(liked, page))
    }
}

#[async_trait]
impl CategoryRepository for MemoryStore {
    async fn list(&self) -> Result<Vec<Category>, StoreError> {
        let state = self.state.lock().await;
        let mut counts: HashMap<CategoryId, u64> = HashMap::new();
        for &(_, category) in &state.product_categories {
            *counts.entry(category).or_default() += 1;
        }
        let mut categories: Vec<Category> = state
            .categories
            .iter()
            .map(|(&id, c)| Category {
                id,
                name: c.name.clone(),
                slug: c.slug.clone(),
                product_count: counts.get(&id).copied().unwrap_or(0),
            })
            .collect();
        categories.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(categories)
    }

    async fn create(&self, id: CategoryId, name: &CategoryName, slug: &Slug) -> Result<Category, StoreError> {
        let mut state = self.state.lock().await;
        if state.categories.contains_key(&id) {
            return Err(StoreError::Conflict(format!("category {id} already exists")));
        }
        if state.slug_taken(slug, None) {
            return Err(StoreError::Conflict(format!("the slug `{}` is taken", slug.as_str())));
        }
        let stored = StoredCategory { name: name.as_str().to_owned(), slug: slug.as_str().to_owned() };
        state.categories.insert(id, stored);
        state.category(id)
    }

    async fn update(
        &self,
        id: CategoryId,
        name: Option<&CategoryName>,
        slug: Option<&Slug>,
    ) -> Result<Category, StoreError> {
        let mut state = self.state.lock().await;
        if !state.categories.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        if let Some(slug) = slug
            && state.slug_taken(slug, Some(id))
        {
            return Err(StoreError::Conflict(format!("the slug `{}` is taken", slug.as_str())));
        }
        let stored = state.categories.get_mut(&id).ok_or(StoreError::NotFound)?;
        if let Some(name) = name {
            stored.name = name.as_str().to_owned();
        }
        if let Some(slug) = slug {
            stored.slug = slug.as_str().to_owned();
        }
        state.category(id)
    }

    async fn delete(&self, id: CategoryId) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if state.categories.remove(&id).is_none() {
            return Err(StoreError::NotFound);
        }
        state.product_categories.retain(|(_, c)| *c != id);
        Ok(())
    }
}

#[async_trait]
impl ReviewRepository for MemoryStore {
    async fn create(&self, new: NewReview) -> Result<Review, StoreError> {
        let mut state = self.state.lock().await;
        if !state.products.contains_key(&new.product_id) {
            return Err(StoreError::NotFound);
        }
        // What the database's foreign key would refuse.
        if !state.users.contains_key(&new.author_id) {
            return Err(StoreError::InvalidReference("author_id".into()));
        }
        if state.reviews.values().any(|r| r.product_id == new.product_id && r.author_id == new.author_id) {
            return Err(StoreError::AlreadyExists);
        }
        if state.reviews.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!("review {} already exists", new.id)));
        }
        let stored = StoredReview {
            product_id: new.product_id,
            author_id: new.author_id,
            rating: new.rating.get(),
            body: new.body.as_str().to_owned(),
            revision: 1,
            moderation: ReviewModeration::default(),
            decided_revision: None,
            decided_by: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        state.reviews.insert(new.id, stored);
        let review = state.review(new.id)?;
        state.append_events(vec![DomainEvent::review_created(&review)]);
        Ok(review)
    }

    async fn get(&self, id: ReviewId) -> Result<Option<Review>, StoreError> {
        let state = self.state.lock().await;
        match state.review(id) {
            Err(StoreError::NotFound) => Ok(None),
            other => other.map(Some),
        }
    }

    async fn list_for_product(&self, product: ProductId, page: PageRequest) -> Result<Page<Review>, StoreError> {
        let state = self.state.lock().await;
        state.review_page(|r| r.product_id == product && r.moderation.status.is_public(), page)
    }

    async fn list_for_viewer(
        &self,
        product: ProductId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        let state = self.state.lock().await;
        state.review_page(
            |r| r.product_id == product && (r.moderation.status.is_public() || r.author_id == viewer),
            page,
        )
    }

    async fn list_by_status(&self, status: ModerationStatus, page: PageRequest) -> Result<Page<Review>, StoreError> {
        let state = self.state.lock().await;
        state.review_page(|r| r.moderation.status == status, page)
    }

    async fn update(
        &self,
        id: ReviewId,
        rating: Option<Rating>,
        body: Option<ReviewBody>,
        now: DateTime<Utc>,
    ) -> Result<Review, StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.reviews.get_mut(&id).ok_or(StoreError::NotFound)?;
        if let Some(rating) = rating {
            stored.rating = rating.get();
        }
        if let Some(body) = body
            && body.as_str() != stored.body
        {
            stored.body = body.as_str().to_owned();
            stored.revision += 1;
        }
        stored.updated_at = now;
        let review = state.review(id)?;
        state.append_events(vec![DomainEvent::review_updated(&review)]);
        Ok(review)
    }

    async fn record_verdict(&self, id: ReviewId, verdict: ReviewVerdict) -> Result<VerdictOutcome, StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.reviews.get_mut(&id).ok_or(StoreError::NotFound)?;
        let outcome = verdict_outcome(verdict.revision, stored.revision, stored.decided_revision);
        if outcome == VerdictOutcome::Recorded {
            stored.moderation = ReviewModeration {
                status: verdict.status,
                toxicity: verdict.toxicity,
                checked_at: Some(verdict.checked_at),
            };
        }
        Ok(outcome)
    }

    async fn decide(
        &self,
        id: ReviewId,
        decision: ModerationDecision,
        ctx: AuditContext,
    ) -> Result<Review, StoreError> {
        let mut state = self.state.lock().await;
        let stored = state.reviews.get_mut(&id).ok_or(StoreError::NotFound)?;
        let before = stored.moderation.status;
        stored.moderation.status = decision.status();
        stored.moderation.checked_at = Some(ctx.now);
        stored.decided_revision = Some(stored.revision);
        stored.decided_by = Some(ctx.actor);
        let draft = decision.audit(id, stored.product_id, stored.author_id, before);
        state.record(draft, ctx);
        state.review(id)
    }

    async fn delete(&self, id: ReviewId) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if state.reviews.remove(&id).is_some() { Ok(()) } else { Err(StoreError::NotFound) }
    }
}
