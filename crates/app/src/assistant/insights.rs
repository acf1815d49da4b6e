//! The assistant's catalogue features: a summary of each product's visible reviews, kept
//! fresh after reviews change but generated at most once per product per minute; a
//! suggested description for a product's owner; and the AI usage report with its cost.

use crate::AppError;
use crate::assistant::analysis::{CacheMode, CacheStatus, GenerationRequest, TextAnalysis};
use crate::catalog::CatalogService;
use crate::events::{EventHandler, HandlerError};
use crate::ports::{
    Clock, ConversationRepository, GeneratedSummary, ModelError, PageRequest, ReviewSummaryRepository,
    StoredReviewSummary, UsageDelta,
};
use crate::rate_limit::{Quota, RateLimits};
use crate::{Principal, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;
use std::time::Duration;
use storefront_domain::events::{ReviewCreated, ReviewDeleted, ReviewUpdated};
use storefront_domain::{
    DailyUsage, DomainEvent, EventType, GenerationKind, PriceTable, Product, ProductId, RegenerationRule, Tone,
    UsagePeriod, UserId, next_budget_reset, redact_pii, screen_prompt, summary_is_stale, usage_day,
    within_daily_budget,
};

/// The limit name of description suggestions per user, as in metrics and counter keys.
const SUGGESTION_LIMIT: &str = "ai_description_per_user";

/// The most text a summary or generation request may carry (the utilities' input bound).
const MAX_SUMMARY_INPUT_CHARS: usize = 20_000;
const MAX_PROMPT_CHARS: usize = 4_000;

/// What the catalogue features are configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightSettings {
    /// How often a product's review summary may be generated.
    pub regeneration: RegenerationRule,
    /// The longest summary, in characters.
    pub summary_max_chars: u32,
    /// How many of the newest visible reviews a summary is made from.
    pub summary_reviews: u32,
    /// The longest suggested description, in words.
    pub description_max_words: u32,
    /// Suggestions per user per minute (the assistant's per-user rate).
    pub requests_per_minute: u64,
    /// Tokens per user per day (UTC), shared with the chat.
    pub daily_token_budget: u64,
    /// What `Retry-After` says when the provider failed without saying when to come back.
    pub unavailable_retry_after: Duration,
    /// Prices per provider and model, for the usage report's cost.
    pub prices: PriceTable,
    /// How many users the usage report ranks.
    pub top_users: u32,
}

impl Default for InsightSettings {
    fn default() -> Self {
        Self {
            regeneration: RegenerationRule::default(),
            summary_max_chars: 300,
            summary_reviews: 50,
            description_max_words: 120,
            requests_per_minute: 10,
            daily_token_budget: 50_000,
            unavailable_retry_after: Duration::from_secs(5),
            prices: PriceTable::default(),
            top_users: 10,
        }
    }
}

/// A product's review summary as served: the product's current review count and mean
/// rating, and the newest summary of its visible reviews (`None` without reviews, or while
/// none could be generated yet).
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSummaryView {
    pub summary: Option<String>,
    pub review_count: u64,
    pub rating_avg: Option<f64>,
    pub generated_at: Option<DateTime<Utc>>,
    /// `Hit` when the stored summary was served as it was, `Miss` when this read made it
    /// (or there was none to serve).
    pub cache: CacheStatus,
}

/// One day's usage of one provider and model, with its cost in US dollars.
#[derive(Debug, Clone, PartialEq)]
pub struct CostedUsage {
    pub day: NaiveDate,
    pub provider: String,
    pub model: String,
    pub usage: DailyUsage,
    pub cost_usd: f64,
}

/// One of the users who used the most tokens in a report's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUser {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub usage: DailyUsage,
}

/// The AI usage report.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageReportView {
    pub period: UsagePeriod,
    pub days: Vec<CostedUsage>,
    pub total: DailyUsage,
    pub total_cost_usd: f64,
    pub top_users: Vec<TopUser>,
}

/// Review summaries, description suggestions and the usage report. Cheap to clone.
#[derive(Clone)]
pub struct InsightService {
    catalog: CatalogService,
    summaries: Arc<dyn ReviewSummaryRepository>,
    usage: Arc<dyn ConversationRepository>,
    analysis: Arc<dyn TextAnalysis>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
    settings: InsightSettings,
}

impl InsightService {
    pub fn new(
        catalog: CatalogService,
        summaries: Arc<dyn ReviewSummaryRepository>,
        usage: Arc<dyn ConversationRepository>,
        analysis: Arc<dyn TextAnalysis>,
        clock: Arc<dyn Clock>,
        settings: InsightSettings,
    ) -> Self {
        Self { catalog, summaries, usage, analysis, clock, limits: RateLimits::disabled(), settings }
    }

    /// Counts suggestions per user through `limits` (a service built without it enforces
    /// no per-minute limit; the daily budget holds regardless).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The product's review summary. A missing or stale summary is generated first when
    /// its regeneration slot is free (at most once per product per minute); otherwise the
    /// stored one is served as it is, stale or not, and so is it when the provider fails.
    ///
    /// # Errors
    /// `NotFound` for an unknown product.
    pub async fn review_summary(&self, id: ProductId) -> Result<ReviewSummaryView, AppError> {
        let product = self.catalog.product(id, None).await?;
        if product.review_count == 0 {
            return Ok(ReviewSummaryView {
                summary: None,
                review_count: 0,
                rating_avg: None,
                generated_at: None,
                cache: CacheStatus::Miss,
            });
        }
        let mut stored = self.summaries.review_summary(id).await?;
        let fresh = stored.as_ref().is_some_and(|s| s.summary.is_some() && !self.is_stale(s, &product));
        let mut generated_now = false;
        if !fresh {
            match self.regenerate(&product).await {
                Ok(Some(generated)) => {
                    stored = Some(generated);
                    generated_now = true;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(product_id = %id, %error, "a review summary could not be generated; serving the stored one");
                }
            }
        }
        let stored = stored.filter(|s| s.summary.is_some());
        let cache = if stored.is_some() && !generated_now { CacheStatus::Hit } else { CacheStatus::Miss };
        Ok(ReviewSummaryView {
            summary: stored.as_ref().and_then(|s| s.summary.clone()),
            review_count: product.review_count,
            rating_avg: product.rating_avg,
            generated_at: stored.and_then(|s| s.generated_at),
            cache,
        })
    }

    /// After a review changed: marks the product's summary stale and generates it again
    /// when its slot is free. Answers whether it generated one; a product deleted since is
    /// nothing to do.
    pub async fn reviews_changed(&self, id: ProductId) -> Result<bool, AppError> {
        match self.summaries.mark_summary_stale(id).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Ok(false),
            Err(other) => return Err(other.into()),
        }
        let product = match self.catalog.product(id, None).await {
            Ok(product) => product,
            Err(AppError::NotFound) => return Ok(false),
            Err(other) => return Err(other),
        };
        Ok(self.regenerate(&product).await?.is_some())
    }

    fn is_stale(&self, stored: &StoredReviewSummary, product: &Product) -> bool {
        summary_is_stale(stored.stale, stored.review_count, stored.rating_avg, product.review_count, product.rating_avg)
    }

    /// Generates and stores the summary if this caller wins the product's regeneration
    /// slot; `None` when another generation was claimed less than the interval ago.
    async fn regenerate(&self, product: &Product) -> Result<Option<StoredReviewSummary>, AppError> {
        let now = self.clock.now();
        let Some(revision) =
            self.summaries.claim_summary_regeneration(product.id, now, self.settings.regeneration).await?
        else {
            return Ok(None);
        };
        // The public listing: reviews hidden from the public are not summarised.
        let page = PageRequest { limit: self.settings.summary_reviews, offset: 0 };
        let reviews = self.catalog.reviews(product.id, page, None).await?;
        if reviews.items.is_empty() {
            return Ok(None);
        }
        let text = review_digest(reviews.items.iter().map(|r| (r.rating, r.body.as_str())));
        let answer = self
            .analysis
            .summarize(&text, self.settings.summary_max_chars, CacheMode::Use)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let generated = GeneratedSummary {
            summary: answer.value,
            review_count: product.review_count,
            rating_avg: product.rating_avg,
            generated_at: self.clock.now(),
            provider: answer.provider,
            model: answer.model,
            revision,
        };
        self.summaries.store_review_summary(product.id, &generated).await?;
        Ok(Some(StoredReviewSummary {
            product_id: product.id,
            summary: Some(generated.summary),
            review_count: generated.review_count,
            rating_avg: generated.rating_avg,
            generated_at: Some(generated.generated_at),
            provider: Some(generated.provider),
            model: Some(generated.model),
            stale: false,
            claimed_at: Some(now),
        }))
    }

    /// A new description for the product, not applied. The caller must own the product or
    /// hold `products:update_any`; it counts against the caller's per-minute rate and
    /// daily token budget like a chat turn, and its tokens are recorded as the caller's.
    ///
    /// # Errors
    /// `Validation` (`tone`), `NotFound`, `Forbidden`, `RateLimited`, `AiBudgetExceeded`,
    /// `PromptRejected` (the product's text carries an injection attempt),
    /// `AssistantUnavailable`.
    pub async fn suggest_description(
        &self,
        caller: &Principal,
        id: ProductId,
        tone: Option<&str>,
    ) -> Result<String, AppError> {
        let tone = match tone {
            None => Tone::default(),
            Some(raw) => {
                Tone::parse(raw).ok_or_else(|| AppError::validation("tone", "must be neutral, playful or premium"))?
            }
        };
        let product = self.catalog.product_to_change(caller, id).await?;
        let user = caller.user.id;
        let quota = Quota { max: self.settings.requests_per_minute, window: Duration::from_secs(60) };
        self.limits.admit_account(SUGGESTION_LIMIT, &user.to_string(), quota).await?;
        let now = self.clock.now();
        let spent = self.usage.usage_on(user, usage_day(now)).await?;
        if !within_daily_budget(&spent, self.settings.daily_token_budget) {
            let retry_after_secs = (next_budget_reset(now) - now).num_seconds().max(1).unsigned_abs();
            return Err(AppError::AiBudgetExceeded { retry_after_secs });
        }
        let prompt = description_prompt(&product);
        if let Some(kind) = screen_prompt(&prompt) {
            tracing::warn!(security_event = "prompt_rejected", kind = kind.as_str(), user_id = %user, product_id = %id, "description suggestion rejected");
            return Err(AppError::PromptRejected(kind));
        }
        let request = GenerationRequest {
            kind: GenerationKind::ProductDescription,
            prompt,
            max_words: self.settings.description_max_words,
            tone,
        };
        let answer = self.analysis.generate(&request, CacheMode::Use).await.map_err(|e| self.unavailable(&e))?;
        let delta = UsageDelta {
            day: usage_day(self.clock.now()),
            provider: answer.provider.clone(),
            model: answer.model.clone(),
            requests: 1,
            prompt_tokens: answer.usage.prompt_tokens,
            completion_tokens: answer.usage.completion_tokens,
        };
        self.usage.record_usage(user, &delta).await?;
        Ok(answer.value)
    }

    /// Usage per day, provider and model over `from..=to` (default: the last 30 days), its
    /// cost by the price table, and the users who used the most tokens.
    ///
    /// # Errors
    /// `Validation`: `from` after `to`, or a period longer than `UsagePeriod::MAX_DAYS`.
    pub async fn usage_report(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<UsageReportView, AppError> {
        let period = UsagePeriod::new(from, to, usage_day(self.clock.now()))
            .map_err(|violation| AppError::Validation(vec![violation]))?;
        let report = self.usage.usage_report(period.from, period.to, self.settings.top_users).await?;
        let prices = &self.settings.prices;
        let days: Vec<CostedUsage> = report
            .days
            .into_iter()
            .map(|d| CostedUsage {
                cost_usd: prices.cost(&d.provider, &d.model, d.usage.prompt_tokens, d.usage.completion_tokens),
                day: d.day,
                provider: d.provider,
                model: d.model,
                usage: d.usage,
            })
            .collect();
        let total = days.iter().fold(DailyUsage::default(), |sum, d| DailyUsage {
            requests: sum.requests + d.usage.requests,
            prompt_tokens: sum.prompt_tokens + d.usage.prompt_tokens,
            completion_tokens: sum.completion_tokens + d.usage.completion_tokens,
        });
        let total_cost_usd = (days.iter().map(|d| d.cost_usd).sum::<f64>() * 1_000_000.0).round() / 1_000_000.0;
        let top_users = report
            .top_users
            .into_iter()
            .map(|u| TopUser { user_id: u.user_id, email: u.email, name: u.name, usage: u.usage })
            .collect();
        Ok(UsageReportView { period, days, total, total_cost_usd, top_users })
    }

    fn unavailable(&self, error: &ModelError) -> AppError {
        let retry_after = match error {
            ModelError::RateLimited { retry_after: Some(after) } => *after,
            _ => self.settings.unavailable_retry_after,
        };
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        AppError::AssistantUnavailable { retry_after_secs: secs.max(1) }
    }
}

/// The reviews as the summary's input: one line each, with its rating, redacted of
/// personal data and cut to what the utilities accept.
fn review_digest<'a>(reviews: impl Iterator<Item = (u8, &'a str)>) -> String {
    let mut text = String::new();
    for (rating, body) in reviews {
        let line = format!("{rating}/5: {}\n", body.split_whitespace().collect::<Vec<_>>().join(" "));
        text.push_str(&line);
    }
    truncate_chars(redact_pii(text.trim_end()).text, MAX_SUMMARY_INPUT_CHARS)
}

/// What a description is written from: the product's name, categories and current
/// description, redacted of personal data.
fn description_prompt(product: &Product) -> String {
    let categories: Vec<&str> = product.categories.iter().map(|c| c.name.as_str()).collect();
    let mut prompt = format!("Product: {}\n", product.name);
    if !categories.is_empty() {
        prompt.push_str(&format!("Categories: {}\n", categories.join(", ")));
    }
    if !product.description.trim().is_empty() {
        prompt.push_str(&format!("Current description: {}\n", product.description.trim()));
    }
    truncate_chars(redact_pii(prompt.trim_end()).text, MAX_PROMPT_CHARS)
}

fn truncate_chars(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

/// Keeps review summaries fresh: on `review.created` and `review.deleted` marks the product's summary stale
/// and regenerates it when its slot is free. A provider failure is logged, not retried
/// here: the next read past the interval generates it.
pub struct ReviewSummaryRefresh {
    insights: InsightService,
}

impl ReviewSummaryRefresh {
    pub fn new(insights: InsightService) -> Self {
        Self { insights }
    }
}

#[async_trait]
impl EventHandler for ReviewSummaryRefresh {
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let product = match event.event_type {
            EventType::ReviewCreated => event.payload_as::<ReviewCreated>().map_err(HandlerError::Failed)?.product_id,
            EventType::ReviewUpdated => event.payload_as::<ReviewUpdated>().map_err(HandlerError::Failed)?.product_id,
            EventType::ReviewDeleted => event.payload_as::<ReviewDeleted>().map_err(HandlerError::Failed)?.product_id,
            _ => return Ok(()),
        };
        match self.insights.reviews_changed(product).await {
            Ok(_) => Ok(()),
            Err(AppError::AssistantUnavailable { .. }) => {
                tracing::warn!(product_id = %product, "the review summary stays stale: the provider is unavailable");
                Ok(())
            }
            Err(other) => Err(HandlerError::Failed(other.to_string())),
        }
    }
}
