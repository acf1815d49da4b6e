//! The review summaries' debounce and the description suggestions, as `InsightService`
//! and its event handler run them: over the in-memory store, with a clock the test moves
//! and a fake `TextAnalysis` that counts its calls (no provider, no sleeping).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use storefront_app::assistant::analysis::{
    Analysed, AnalysisOperation, CacheMode, CacheStatus, GenerationRequest, TextAnalysis,
};
use storefront_app::assistant::insights::{InsightService, InsightSettings, ReviewSummaryRefresh};
use storefront_app::ports::{
    Clock, ConversationRepository, ModelError, NewProduct, NewReview, ProductRepository, ReviewRepository,
    UserRepository, UuidV7Generator,
};
use storefront_app::{AppError, CatalogService, EventHandler, Principal};
use storefront_contract::suite::support::new_user;
use storefront_domain::{
    Classification, DailyUsage, Description, DomainEvent, GenerationKind, LowStockRule, Moderation, PermissionSet,
    PriceCents, ProductId, ProductName, Rating, ReviewBody, ReviewId, SessionId, Stock, TokenUsage, Tone, User,
    usage_day,
};
use storefront_memory::MemoryStore;
use uuid::Uuid;

/// A clock the test moves by hand.
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, by: TimeDelta) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Summaries that say how many reviews they were made from; generated text that names
/// the prompt's first line and the tone. Counts every call; fails while `failing`.
#[derive(Default)]
struct FakeAnalysis {
    summaries: AtomicUsize,
    generations: AtomicUsize,
    failing: AtomicBool,
    last_prompt: Mutex<Option<GenerationRequest>>,
}

impl FakeAnalysis {
    fn answer<T>(&self, value: T, usage: TokenUsage) -> Result<Analysed<T>, ModelError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(ModelError::Unavailable("the fake is down".into()));
        }
        Ok(Analysed { value, provider: "fake".into(), model: "fake-1".into(), usage, cache: CacheStatus::Miss })
    }
}

#[async_trait]
impl TextAnalysis for FakeAnalysis {
    fn provider(&self) -> &str {
        "fake"
    }

    fn model(&self) -> &str {
        "fake-1"
    }

    fn prompt_version(&self, _operation: AnalysisOperation) -> u32 {
        1
    }

    async fn summarize(&self, text: &str, max_chars: u32, cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        assert_eq!(cache, CacheMode::Use, "summaries use the cache");
        assert!(max_chars >= 20);
        self.summaries.fetch_add(1, Ordering::SeqCst);
        // Lets concurrent handlers interleave while one is "generating".
        tokio::task::yield_now().await;
        let summary = format!("{} reviews: {}", text.lines().count(), text.lines().next().unwrap_or(""));
        let summary: String = summary.chars().take(max_chars as usize).collect();
        self.answer(summary, TokenUsage { prompt_tokens: 10, completion_tokens: 5, estimated: false })
    }

    async fn moderate(&self, _text: &str, _cache: CacheMode) -> Result<Analysed<Moderation>, ModelError> {
        self.answer(Moderation::default(), TokenUsage::default())
    }

    async fn classify(
        &self,
        _text: &str,
        _labels: &[String],
        _cache: CacheMode,
    ) -> Result<Analysed<Classification>, ModelError> {
        Err(ModelError::Unavailable("not used here".into()))
    }

    async fn generate(&self, request: &GenerationRequest, _cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        self.generations.fetch_add(1, Ordering::SeqCst);
        *self.last_prompt.lock().unwrap() = Some(request.clone());
        let first = request.prompt.lines().next().unwrap_or("");
        let text = format!("{} ({})", first, request.tone.as_str());
        self.answer(text, TokenUsage { prompt_tokens: 40, completion_tokens: 60, estimated: false })
    }
}

struct World {
    store: MemoryStore,
    clock: Arc<ManualClock>,
    analysis: Arc<FakeAnalysis>,
    insights: InsightService,
    owner: User,
    product: ProductId,
}

async fn world_with(settings: InsightSettings) -> World {
    let store = MemoryStore::new();
    let clock = Arc::new(ManualClock(Mutex::new(DateTime::from_timestamp(1_796_000_000, 0).unwrap())));
    let analysis = Arc::new(FakeAnalysis::default());
    let catalog = CatalogService::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        clock.clone(),
        Arc::new(UuidV7Generator),
        LowStockRule { threshold: 5, window: TimeDelta::hours(1) },
    );
    let insights = InsightService::new(
        catalog,
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        analysis.clone(),
        clock.clone(),
        settings,
    );
    let owner = UserRepository::create(&store, new_user("owner@example.com")).await.unwrap();
    let product = ProductRepository::create(
        &store,
        NewProduct {
            id: ProductId(Uuid::now_v7()),
            owner_id: owner.id,
            name: ProductName::parse("Oak desk").unwrap(),
            description: Description::parse("Solid oak. Questions: seller@example.com").unwrap(),
            price: PriceCents::parse(12_000).unwrap(),
            stock: Stock::parse(3).unwrap(),
            category_ids: Vec::new(),
            created_at: clock.now(),
        },
    )
    .await
    .unwrap()
    .id;
    World { store, clock, analysis, insights, owner, product }
}

async fn world() -> World {
    world_with(InsightSettings::default()).await
}

impl World {
    /// A review by a new user, and the `review.created` event the store raised for it.
    async fn review(&self, n: usize, rating: u8) -> DomainEvent {
        let author = UserRepository::create(&self.store, new_user(&format!("reviewer{n}@example.com"))).await.unwrap();
        let review = ReviewRepository::create(
            &self.store,
            NewReview {
                id: ReviewId(Uuid::now_v7()),
                product_id: self.product,
                author_id: author.id,
                rating: Rating::parse(i64::from(rating)).unwrap(),
                body: ReviewBody::parse(&format!("Review number {n}")).unwrap(),
                created_at: self.clock.now(),
            },
        )
        .await
        .unwrap();
        DomainEvent::review_created(&review)
    }

    fn summaries_made(&self) -> usize {
        self.analysis.summaries.load(Ordering::SeqCst)
    }

    fn principal(&self, user: &User, permissions: PermissionSet) -> Principal {
        Principal { user: user.clone(), session_id: SessionId(Uuid::now_v7()), permissions }
    }
}

#[tokio::test]
async fn a_burst_of_reviews_regenerates_the_summary_once_per_minute() {
    let w = world().await;
    let handler = ReviewSummaryRefresh::new(w.insights.clone());
    for n in 1..=5 {
        let event = w.review(n, 4).await;
        handler.handle(&event).await.unwrap();
        w.clock.advance(TimeDelta::seconds(5));
    }
    assert_eq!(w.summaries_made(), 1, "five reviews within a minute: one generation");

    // 25 s after the claim: the stored summary (of the first review) is served, stale.
    let served = w.insights.review_summary(w.product).await.unwrap();
    assert_eq!(w.summaries_made(), 1);
    assert_eq!(served.summary.as_deref(), Some("1 reviews: 4/5: Review number 1"));
    assert_eq!((served.review_count, served.rating_avg), (5, Some(4.0)), "the product's numbers, now");
    let first_generated = served.generated_at.unwrap();

    // Past the minute, a read regenerates it from every review, once.
    w.clock.advance(TimeDelta::seconds(36));
    let served = w.insights.review_summary(w.product).await.unwrap();
    assert_eq!(w.summaries_made(), 2);
    assert!(served.summary.unwrap().starts_with("5 reviews"));
    assert!(served.generated_at.unwrap() > first_generated);
    w.insights.review_summary(w.product).await.unwrap();
    w.clock.advance(TimeDelta::minutes(10));
    w.insights.review_summary(w.product).await.unwrap();
    assert_eq!(w.summaries_made(), 2, "a fresh summary is served as stored");
}

#[tokio::test]
async fn a_deleted_review_refreshes_the_summary_past_the_minute() {
    let w = world().await;
    let handler = ReviewSummaryRefresh::new(w.insights.clone());
    let first = w.review(1, 5).await;
    w.review(2, 1).await;
    handler.handle(&first).await.unwrap();
    assert_eq!(w.summaries_made(), 1);
    let created: storefront_domain::events::ReviewCreated = first.payload_as().unwrap();

    w.clock.advance(TimeDelta::seconds(61));
    ReviewRepository::delete(&w.store, created.review_id, w.clock.now()).await.unwrap();
    let deleted = DomainEvent::review_deleted(created.review_id, w.product, created.author_id, w.clock.now());
    handler.handle(&deleted).await.unwrap();
    assert_eq!(w.summaries_made(), 2, "the deletion regenerated it");
    let served = w.insights.review_summary(w.product).await.unwrap();
    assert_eq!(served.summary.as_deref(), Some("1 reviews: 1/5: Review number 2"));
    assert_eq!((served.review_count, served.rating_avg), (1, Some(1.0)));
}

#[tokio::test]
async fn concurrent_handlers_generate_once() {
    let w = world().await;
    let mut events = Vec::new();
    for n in 1..=10 {
        events.push(w.review(n, 5).await);
    }
    let mut handlers = tokio::task::JoinSet::new();
    for event in events {
        let handler = ReviewSummaryRefresh::new(w.insights.clone());
        handlers.spawn(async move { handler.handle(&event).await });
    }
    while let Some(outcome) = handlers.join_next().await {
        outcome.unwrap().unwrap();
    }
    assert_eq!(w.summaries_made(), 1);
    let reads = (0..10).map(|_| w.insights.review_summary(w.product));
    for read in reads {
        read.await.unwrap();
    }
    assert_eq!(w.summaries_made(), 1, "within the minute, readers do not regenerate either");
}

#[tokio::test]
async fn the_first_read_generates_and_a_product_without_reviews_has_no_summary() {
    let w = world().await;
    let empty = w.insights.review_summary(w.product).await.unwrap();
    assert_eq!((empty.summary, empty.review_count, empty.rating_avg, empty.generated_at), (None, 0, None, None));
    assert_eq!(w.summaries_made(), 0, "nothing to summarise");

    // Reviews written without the handler running (a worker not yet there).
    w.review(1, 3).await;
    w.review(2, 5).await;
    let served = w.insights.review_summary(w.product).await.unwrap();
    assert_eq!(w.summaries_made(), 1);
    assert_eq!(served.summary.as_deref(), Some("2 reviews: 5/5: Review number 2"), "newest first");
    assert_eq!(served.generated_at, Some(w.clock.now()));

    let unknown = w.insights.review_summary(ProductId(Uuid::now_v7())).await.unwrap_err();
    assert!(matches!(unknown, AppError::NotFound));
}

#[tokio::test]
async fn a_failing_provider_leaves_the_stored_summary_served() {
    let w = world().await;
    let event = w.review(1, 4).await;
    w.analysis.failing.store(true, Ordering::SeqCst);
    ReviewSummaryRefresh::new(w.insights.clone()).handle(&event).await.unwrap();
    let served = w.insights.review_summary(w.product).await.unwrap();
    assert_eq!((served.summary, served.review_count), (None, 1), "none yet, and no error");

    w.analysis.failing.store(false, Ordering::SeqCst);
    w.clock.advance(TimeDelta::seconds(60));
    let served = w.insights.review_summary(w.product).await.unwrap();
    assert!(served.summary.is_some(), "the next slot generates it");
    let event = w.review(2, 2).await;
    w.clock.advance(TimeDelta::seconds(60));
    w.analysis.failing.store(true, Ordering::SeqCst);
    ReviewSummaryRefresh::new(w.insights.clone()).handle(&event).await.unwrap();
    let served = w.insights.review_summary(w.product).await.unwrap();
    assert_eq!(served.summary.as_deref(), Some("1 reviews: 4/5: Review number 1"), "the previous one, stale");
    assert_eq!(served.review_count, 2);
}

#[tokio::test]
async fn a_suggestion_is_for_the_owner_in_a_tone_redacted_and_counted() {
    let w = world().await;
    let owner = w.principal(&w.owner, PermissionSet::for_role(&w.owner.role, w.owner.role.default_grants()));
    let text = w.insights.suggest_description(&owner, w.product, Some("playful")).await.unwrap();
    assert_eq!(text, "Product: Oak desk (playful)");
    let asked = w.analysis.last_prompt.lock().unwrap().clone().unwrap();
    assert_eq!((asked.kind, asked.tone, asked.max_words), (GenerationKind::ProductDescription, Tone::Playful, 120));
    assert!(asked.prompt.contains("Solid oak") && !asked.prompt.contains("seller@example.com"), "{}", asked.prompt);
    let spent = w.store.usage_on(w.owner.id, usage_day(w.clock.now())).await.unwrap();
    assert_eq!(spent, DailyUsage { requests: 1, prompt_tokens: 40, completion_tokens: 60 });

    let bad = w.insights.suggest_description(&owner, w.product, Some("grumpy")).await.unwrap_err();
    assert!(matches!(&bad, AppError::Validation(v) if v[0].field == "tone"), "{bad:?}");
    let unknown = w.insights.suggest_description(&owner, ProductId(Uuid::now_v7()), None).await.unwrap_err();
    assert!(matches!(unknown, AppError::NotFound));

    let stranger = UserRepository::create(&w.store, new_user("stranger@example.com")).await.unwrap();
    let stranger = w.principal(&stranger, PermissionSet::for_role(&stranger.role, stranger.role.default_grants()));
    let refused = w.insights.suggest_description(&stranger, w.product, None).await.unwrap_err();
    assert!(matches!(refused, AppError::Forbidden));
    assert_eq!(w.analysis.generations.load(Ordering::SeqCst), 1, "only the owner's request reached the provider");
}

#[tokio::test]
async fn a_spent_budget_refuses_suggestions_until_midnight() {
    let w = world_with(InsightSettings { daily_token_budget: 100, ..InsightSettings::default() }).await;
    let owner = w.principal(&w.owner, PermissionSet::for_role(&w.owner.role, w.owner.role.default_grants()));
    w.insights.suggest_description(&owner, w.product, None).await.unwrap();
    let refused = w.insights.suggest_description(&owner, w.product, None).await.unwrap_err();
    assert!(matches!(refused, AppError::AiBudgetExceeded { retry_after_secs } if retry_after_secs > 0));
    assert_eq!(w.analysis.generations.load(Ordering::SeqCst), 1);
}
