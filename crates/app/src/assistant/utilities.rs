//! `AiUtilityService`: the text utilities (summarize, moderate, classify, generate) for a
//! user, with what a chat turn has around it — the contract's input bounds, the per-user
//! requests per minute (the same counter as chat: the contract's limit is per user, not
//! per endpoint), the daily token budget, injection screening of every user text that
//! goes to the provider, PII redaction before it goes, and the usage added to the user's
//! day. The analysis itself (and its cache) is `Services.analysis`.
//!
//! Usage: every call that reaches the analysis counts one request; its tokens are what
//! the provider reported for it — zero on a cache HIT (nothing was asked upstream) and on
//! a provider failure. A HIT is still a request: it counts against the per-minute limit
//! and in the day's requests, so the cache cannot be used to go around the limits.

use super::analysis::{Analysed, CacheMode, GenerationRequest, TextAnalysis};
use super::{AI_ERRORS_METRIC, AI_TOKENS_METRIC, AssistantSettings, CHAT_LIMIT};
use crate::AppError;
use crate::ports::{Clock, ConversationRepository, ModelError, UsageDelta};
use crate::rate_limit::{Quota, RateLimits};
use crate::{Principal, StoreError};
use std::sync::Arc;
use std::time::Duration;
use storefront_domain::{
    Classification, FieldViolation, GenerationKind, Moderation, Tone, next_budget_reset, redact_pii, screen_prompt,
    usage_day, within_daily_budget,
};

/// Utility requests, by operation, provider and outcome (`hit`, `miss`, `failed`,
/// `prompt_rejected`, `rate_limited`, `budget_exceeded`).
pub const AI_UTILITY_REQUESTS_METRIC: &str = "ai_utility_requests_total";

/// The longest text to summarize, moderate or classify, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// `max_chars` of a summary: its bounds and default.
pub const SUMMARY_CHARS: (i64, i64) = (20, 1_000);
pub const DEFAULT_SUMMARY_CHARS: u32 = 100;
/// How many labels a classification may be given.
pub const LABELS: (usize, usize) = (2, 20);
/// The longest label, in characters (after trimming): a label names a class, it is not a
/// text of its own.
pub const MAX_LABEL_CHARS: usize = 100;
/// The longest prompt to `generate`, in characters.
pub const MAX_PROMPT_CHARS: usize = 4_000;
/// `max_words` of a generated text: its bounds and default (a short product description
/// or e-mail; a blog post asks for more).
pub const GENERATED_WORDS: (i64, i64) = (10, 1_000);
pub const DEFAULT_GENERATED_WORDS: u32 = 200;

/// `POST /ai/summarize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummarizeInput {
    pub text: String,
    pub max_chars: Option<i64>,
}

/// `POST /ai/classify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifyInput {
    pub text: String,
    pub labels: Option<Vec<String>>,
}

/// `POST /ai/generate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateInput {
    pub kind: String,
    pub prompt: String,
    pub max_words: Option<i64>,
}

/// The text utilities for users. Cheap to clone.
#[derive(Clone)]
pub struct AiUtilityService {
    analysis: Arc<dyn TextAnalysis>,
    usage: Arc<dyn ConversationRepository>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
    settings: AssistantSettings,
}

/// A field's text: 1..=`max` characters, not blank.
fn text_field(field: &str, raw: &str, max: usize, problems: &mut Vec<FieldViolation>) {
    let chars = raw.chars().count();
    if raw.trim().is_empty() {
        problems.push(FieldViolation::new(field, "must not be empty or blank"));
    } else if chars > max {
        problems.push(FieldViolation::new(field, format!("must be at most {max} characters (got {chars})")));
    }
}

/// An optional number within `bounds`, else `default`.
fn bounded(field: &str, raw: Option<i64>, bounds: (i64, i64), default: u32, problems: &mut Vec<FieldViolation>) -> u32 {
    match raw {
        None => default,
        Some(n) if (bounds.0..=bounds.1).contains(&n) => u32::try_from(n).unwrap_or(default),
        Some(_) => {
            problems.push(FieldViolation::new(field, format!("must be between {} and {}", bounds.0, bounds.1)));
            default
        }
    }
}

/// Labels, when given: 2..=20, each 1..=100 characters and not blank, no two the same
/// (after trimming, ignoring case).
fn check_labels(labels: &[String], problems: &mut Vec<FieldViolation>) {
    if !(LABELS.0..=LABELS.1).contains(&labels.len()) {
        problems.push(FieldViolation::new("labels", format!("must hold {} to {} labels", LABELS.0, LABELS.1)));
        if labels.len() > LABELS.1 {
            // Thousands of labels fit in a body: they are not compared pairwise.
            return;
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let field = format!("labels[{i}]");
        text_field(&field, label.trim(), MAX_LABEL_CHARS, problems);
        let folded = label.trim().to_lowercase();
        if !folded.is_empty() && seen.contains(&folded) {
            problems.push(FieldViolation::new(field, "must not repeat another label"));
        }
        seen.push(folded);
    }
}

fn refuse_if_any(problems: Vec<FieldViolation>) -> Result<(), AppError> {
    if problems.is_empty() { Ok(()) } else { Err(AppError::Validation(problems)) }
}

impl AiUtilityService {
    pub fn new(
        analysis: Arc<dyn TextAnalysis>,
        usage: Arc<dyn ConversationRepository>,
        clock: Arc<dyn Clock>,
        settings: AssistantSettings,
    ) -> Self {
        Self { analysis, usage, clock, limits: RateLimits::disabled(), settings }
    }

    /// Counts requests per user through `limits` (shared with chat).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// A summary of at most `max_chars` characters.
    ///
    /// # Errors
    /// `Validation`, `RateLimited`, `AiBudgetExceeded`, `PromptRejected`,
    /// `AssistantUnavailable`.
    pub async fn summarize(
        &self,
        caller: &Principal,
        input: SummarizeInput,
        mode: CacheMode,
    ) -> Result<Analysed<String>, AppError> {
        let mut problems = Vec::new();
        text_field("text", &input.text, MAX_TEXT_CHARS, &mut problems);
        let max_chars = bounded("max_chars", input.max_chars, SUMMARY_CHARS, DEFAULT_SUMMARY_CHARS, &mut problems);
        refuse_if_any(problems)?;
        let [text] = self.admit(caller, "summarize", [input.text]).await?;
        let outcome = self.analysis.summarize(&text, max_chars, mode).await;
        self.settle(caller, "summarize", outcome).await
    }

    /// A moderation verdict.
    ///
    /// # Errors
    /// As `summarize`.
    pub async fn moderate(
        &self,
        caller: &Principal,
        text: String,
        mode: CacheMode,
    ) -> Result<Analysed<Moderation>, AppError> {
        let mut problems = Vec::new();
        text_field("text", &text, MAX_TEXT_CHARS, &mut problems);
        refuse_if_any(problems)?;
        let [text] = self.admit(caller, "moderate", [text]).await?;
        let outcome = self.analysis.moderate(&text, mode).await;
        self.settle(caller, "moderate", outcome).await
    }

    /// The label that fits best (of `labels`, or the sentiment's name without) and the
    /// sentiment.
    ///
    /// # Errors
    /// As `summarize`.
    pub async fn classify(
        &self,
        caller: &Principal,
        input: ClassifyInput,
        mode: CacheMode,
    ) -> Result<Analysed<Classification>, AppError> {
        let mut problems = Vec::new();
        text_field("text", &input.text, MAX_TEXT_CHARS, &mut problems);
        if let Some(labels) = &input.labels {
            check_labels(labels, &mut problems);
        }
        let labels = input.labels.unwrap_or_default();
        refuse_if_any(problems)?;
        // The labels go to the provider with the text: screened and redacted alike.
        let mut texts = vec![input.text];
        texts.extend(labels.iter().map(|l| l.trim().to_owned()));
        let mut admitted = self.admit_all(caller, "classify", texts).await?;
        let text = admitted.remove(0);
        let outcome = self.analysis.classify(&text, &admitted, mode).await;
        self.settle(caller, "classify", outcome).await
    }

    /// Text of a kind about a prompt, of at most `max_words` words.
    ///
    /// # Errors
    /// As `summarize`.
    pub async fn generate(
        &self,
        caller: &Principal,
        input: GenerateInput,
        mode: CacheMode,
    ) -> Result<Analysed<String>, AppError> {
        let mut problems = Vec::new();
        let kind = GenerationKind::parse(&input.kind);
        if kind.is_none() {
            problems.push(FieldViolation::new("kind", "must be one of email, blog_post, product_description"));
        }
        text_field("prompt", &input.prompt, MAX_PROMPT_CHARS, &mut problems);
        let max_words = bounded("max_words", input.max_words, GENERATED_WORDS, DEFAULT_GENERATED_WORDS, &mut problems);
        refuse_if_any(problems)?;
        let Some(kind) = kind else { return Err(AppError::validation("kind", "unknown kind")) };
        let [prompt] = self.admit(caller, "generate", [input.prompt]).await?;
        let request = GenerationRequest { kind, prompt, max_words, tone: Tone::Neutral };
        let outcome = self.analysis.generate(&request, mode).await;
        self.settle(caller, "generate", outcome).await
    }

    async fn admit<const N: usize>(
        &self,
        caller: &Principal,
        operation: &'static str,
        texts: [String; N],
    ) -> Result<[String; N], AppError> {
        let admitted = self.admit_all(caller, operation, texts.into()).await?;
        admitted.try_into().map_err(|_| AppError::Internal("the guards changed the number of texts".into()))
    }

    /// The limits, then the guards: answers the texts redacted, as they may go upstream.
    async fn admit_all(
        &self,
        caller: &Principal,
        operation: &'static str,
        texts: Vec<String>,
    ) -> Result<Vec<String>, AppError> {
        let user = caller.user.id;
        let quota = Quota { max: self.settings.requests_per_minute, window: Duration::from_secs(60) };
        if let Err(refused) = self.limits.admit_account(CHAT_LIMIT, &user.to_string(), quota).await {
            self.count(operation, "rate_limited");
            return Err(refused);
        }
        let now = self.clock.now();
        let spent = self.usage.usage_on(user, usage_day(now)).await?;
        if !within_daily_budget(&spent, self.settings.daily_token_budget) {
            self.count(operation, "budget_exceeded");
            let retry_after_secs = (next_budget_reset(now) - now).num_seconds().max(1).unsigned_abs();
            return Err(AppError::AiBudgetExceeded { retry_after_secs });
        }
        // Up to 20,000 characters through every screen and detector: off the executor.
        let guarded = tokio::task::spawn_blocking(move || {
            for text in &texts {
                if let Some(kind) = screen_prompt(text) {
                    return Err(kind);
                }
            }
            Ok(texts.iter().map(|t| redact_pii(t)).collect::<Vec<_>>())
        })
        .await
        .map_err(|e| AppError::Internal(format!("the prompt guards failed: {e}")))?;
        match guarded {
            Err(kind) => {
                self.count(operation, "prompt_rejected");
                tracing::warn!(security_event = "prompt_rejected", kind = kind.as_str(), user_id = %user, operation, "prompt rejected");
                Err(AppError::PromptRejected(kind))
            }
            Ok(redacted) => {
                let kinds: Vec<&str> = redacted.iter().flat_map(|r| r.found.iter().map(|k| k.placeholder())).collect();
                if !kinds.is_empty() {
                    tracing::info!(user_id = %user, operation, redacted = ?kinds, "personal data redacted from a text utility's input");
                }
                Ok(redacted.into_iter().map(|r| r.text).collect())
            }
        }
    }

    /// Adds the call to the caller's day and answers it, or the provider's failure as a
    /// 503.
    async fn settle<T>(
        &self,
        caller: &Principal,
        operation: &'static str,
        outcome: Result<Analysed<T>, ModelError>,
    ) -> Result<Analysed<T>, AppError> {
        let day = usage_day(self.clock.now());
        let (prompt_tokens, completion_tokens) =
            outcome.as_ref().map_or((0, 0), |a| (a.usage.prompt_tokens, a.usage.completion_tokens));
        let delta = UsageDelta {
            day,
            provider: self.analysis.provider().to_owned(),
            model: self.analysis.model().to_owned(),
            requests: 1,
            prompt_tokens,
            completion_tokens,
        };
        let recorded = self.usage.record_usage(caller.user.id, &delta).await;
        let provider = self.analysis.provider().to_owned();
        match outcome {
            Ok(answer) => {
                self.count(operation, if answer.cache == super::analysis::CacheStatus::Hit { "hit" } else { "miss" });
                let estimated = if answer.usage.estimated { "true" } else { "false" };
                for (kind, tokens) in [("prompt", prompt_tokens), ("completion", completion_tokens)] {
                    metrics::counter!(AI_TOKENS_METRIC, "provider" => provider.clone(), "kind" => kind, "estimated" => estimated)
                        .increment(tokens);
                }
                recorded.map_err(gone_is_invalid_token)?;
                Ok(answer)
            }
            Err(error) => {
                self.count(operation, "failed");
                metrics::counter!(AI_ERRORS_METRIC, "provider" => provider.clone(), "kind" => error.kind())
                    .increment(1);
                tracing::warn!(provider = %provider, operation, kind = error.kind(), %error, "a text utility's provider failed");
                if let Err(store) = recorded {
                    tracing::error!(error = %store, "a failed text utility's request could not be counted");
                }
                let retry_after = match error {
                    ModelError::RateLimited { retry_after: Some(after) } => after,
                    _ => self.settings.unavailable_retry_after,
                };
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Err(AppError::AssistantUnavailable { retry_after_secs: secs.max(1) })
            }
        }
    }

    fn count(&self, operation: &'static str, outcome: &'static str) {
        metrics::counter!(
            AI_UTILITY_REQUESTS_METRIC,
            "operation" => operation,
            "provider" => self.analysis.provider().to_owned(),
            "outcome" => outcome
        )
        .increment(1);
    }
}

/// The caller's account vanished while the request ran.
fn gone_is_invalid_token(err: StoreError) -> AppError {
    AppError::on_own_account(match err {
        StoreError::InvalidReference(_) => StoreError::NotFound,
        other => other,
    })
}
