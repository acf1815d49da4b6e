//! Review moderation after the fact: `ReviewModerationHandler` checks each new or edited
//! review's text through `TextAnalysis::moderate` and stores the verdict; flagged reviews
//! leave the public lists and their product's count and rating (the rule is
//! `storefront_domain::ReviewViewer`; the stores filter as the port says). Until its check
//! succeeds a review stays approved, so a provider outage hides nothing: the event fails,
//! the worker or the in-process dispatcher retries it with backoff and dead-letters it after
//! the retry policy's tries.

use crate::StoreError;
use crate::assistant::analysis::{CacheMode, TextAnalysis};
use crate::events::{EventHandler, HandlerError};
use crate::ports::{Clock, ReviewRepository};
use async_trait::async_trait;
use std::sync::Arc;
use storefront_domain::events::{ReviewCreated, ReviewUpdated};
use storefront_domain::{
    DomainEvent, EventType, ModerationStatus, Review, ReviewId, ReviewVerdict, VerdictOutcome, redact_pii,
    screen_prompt, verdict_status,
};

/// Moderates the review of `review.created` and `review.updated`; other events need
/// nothing from it.
///
/// Safe under retries and duplicate delivery without a claim: it always checks the text
/// the review has now, and the store keeps a verdict only for that revision and never over
/// a moderator's decision on it (`ReviewRepository::record_verdict`), so handling an event
/// twice stores the same verdict twice (a cached answer the second time) at worst.
pub struct ReviewModerationHandler {
    reviews: Arc<dyn ReviewRepository>,
    analysis: Arc<dyn TextAnalysis>,
    clock: Arc<dyn Clock>,
}

impl ReviewModerationHandler {
    pub fn new(reviews: Arc<dyn ReviewRepository>, analysis: Arc<dyn TextAnalysis>, clock: Arc<dyn Clock>) -> Self {
        Self { reviews, analysis, clock }
    }

    /// Checks the review's current text and offers the verdict; a review gone (deleted
    /// since the event) needs nothing.
    async fn moderate(&self, id: ReviewId) -> Result<(), HandlerError> {
        let Some(review) = self.reviews.get(id).await? else {
            tracing::debug!(review = %id, "review deleted before its check; nothing to moderate");
            return Ok(());
        };
        let verdict = self.check(&review).await?;
        match self.reviews.record_verdict(id, verdict).await {
            Ok(VerdictOutcome::Recorded) => {
                tracing::info!(
                    review = %id,
                    revision = verdict.revision,
                    status = verdict.status.as_str(),
                    toxicity = verdict.toxicity,
                    "review moderated"
                );
                Ok(())
            }
            Ok(outcome) => {
                // Stale: the text changed meanwhile and its own event checks it. Decided: a
                // moderator's decision on this text stands.
                tracing::debug!(review = %id, revision = verdict.revision, ?outcome, "verdict not stored");
                Ok(())
            }
            Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The verdict on the review's current text. An empty text needs no model; a text that
    /// tries to instruct the model (`screen_prompt`) is flagged without being sent, for a
    /// moderator to look at; anything else is redacted (`redact_pii`) and sent.
    async fn check(&self, review: &Review) -> Result<ReviewVerdict, HandlerError> {
        let text = review.body.trim();
        let unchecked = |status| ReviewVerdict {
            revision: review.revision,
            status,
            toxicity: None,
            checked_at: self.clock.now(),
        };
        if text.is_empty() {
            return Ok(unchecked(ModerationStatus::Approved));
        }
        if let Some(kind) = screen_prompt(text) {
            tracing::warn!(review = %review.id, injection = kind.as_str(), "review flagged: it addresses the model");
            return Ok(unchecked(ModerationStatus::Flagged));
        }
        let redacted = redact_pii(text);
        let answer = self.analysis.moderate(&redacted.text, CacheMode::Use).await.map_err(|e| {
            HandlerError::Failed(format!("moderating review {} ({}): {e}", review.id, e.kind()))
        })?;
        Ok(ReviewVerdict {
            revision: review.revision,
            status: verdict_status(&answer.value),
            toxicity: Some(answer.value.toxicity),
            checked_at: self.clock.now(),
        })
    }
}

#[async_trait]
impl EventHandler for ReviewModerationHandler {
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        if !matches!(event.event_type, EventType::ReviewCreated | EventType::ReviewUpdated) {
            return Ok(());
        }
        if event.version != event.event_type.current_version() {
            return Err(HandlerError::Failed(format!(
                "{} v{} is not a version this handler reads",
                event.event_type, event.version
            )));
        }
        let id = if event.event_type == EventType::ReviewCreated {
            event.payload_as::<ReviewCreated>().map_err(HandlerError::Failed)?.review_id
        } else {
            event.payload_as::<ReviewUpdated>().map_err(HandlerError::Failed)?.review_id
        };
        self.moderate(id).await
    }
}
