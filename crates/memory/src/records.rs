//! The records the in-memory state keeps for the catalogue, the outbox, idempotency
//! keys and the assistant, apart from the modules that serve them so that the state (`store`) and those
//! modules do not depend on each other.

use chrono::Duration;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use storefront_app::ports::StoredResponse;
use storefront_domain::{
    ChatMessage, Conversation, ConversationId, DailyUsage, DomainEvent, ProductId, ReviewModeration, UserId,
};

/// A product's own columns; likes, reviews and categories are kept beside it.
pub(crate) struct StoredProduct {
    pub(crate) owner_id: UserId,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) price_cents: i64,
    pub(crate) stock: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    /// When the product last raised `product.stock_low`.
    pub(crate) low_stock_alerted_at: Option<DateTime<Utc>>,
}

pub(crate) struct StoredCategory {
    pub(crate) name: String,
    pub(crate) slug: String,
}

pub(crate) struct StoredReview {
    pub(crate) product_id: ProductId,
    pub(crate) author_id: UserId,
    pub(crate) rating: u8,
    pub(crate) body: String,
    /// The revision of the body (`Review::revision`).
    pub(crate) revision: i64,
    pub(crate) moderation: ReviewModeration,
    /// The revision a moderator last decided on, and who.
    pub(crate) decided_revision: Option<i64>,
    pub(crate) decided_by: Option<UserId>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// An event in the outbox, with its delivery state.
pub(crate) struct StoredEvent {
    pub(crate) event: DomainEvent,
    /// Failed in-process handlings so far.
    pub(crate) attempts: u32,
    /// Not handed out before this (a lease, or a retry's backoff).
    pub(crate) available_at: DateTime<Utc>,
    pub(crate) last_error: Option<String>,
    /// When the event last went to the stream; it stays owed until handled.
    pub(crate) published_at: Option<DateTime<Utc>>,
    pub(crate) handled_at: Option<DateTime<Utc>>,
    pub(crate) dead_at: Option<DateTime<Utc>>,
}

impl StoredEvent {
    /// Neither handled nor dead.
    pub(crate) fn is_owed(&self) -> bool {
        self.handled_at.is_none() && self.dead_at.is_none()
    }
}

/// One handler's record of one event: a live or ended claim, or handled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Processing {
    pub(crate) processed_at: Option<DateTime<Utc>>,
    pub(crate) claimed_until: Option<DateTime<Utc>>,
}

/// One idempotency key of one user.
pub(crate) struct StoredIdempotencyKey {
    /// What identifies the request body the key was first used with.
    pub(crate) fingerprint: String,
    /// When the key was claimed (by its first request, or again after it expired or was
    /// abandoned).
    pub(crate) created_at: DateTime<Utc>,
    /// The first response and when it was stored; `None` while the request runs.
    pub(crate) completed: Option<(StoredResponse, DateTime<Utc>)>,
}

impl StoredIdempotencyKey {
    /// Whether the key may be claimed again as if it were new: its response is past its
    /// retention, or its request never finished and was given up.
    pub(crate) fn is_reusable(&self, now: DateTime<Utc>, retention: Duration, abandon_after: Duration) -> bool {
        match &self.completed {
            Some((_, completed_at)) => *completed_at < now - retention,
            None => self.created_at < now - abandon_after,
        }
    }
}

/// The assistant's data of every user.
#[derive(Default)]
pub(crate) struct AssistantData {
    pub(crate) conversations: HashMap<ConversationId, Conversation>,
    /// Each conversation's messages, in the order they were stored.
    pub(crate) messages: HashMap<ConversationId, Vec<ChatMessage>>,
    pub(crate) usage: HashMap<(UserId, NaiveDate), DailyUsage>,
}

impl AssistantData {
    /// Forgets everything of `user` (its account is being deleted).
    pub(crate) fn remove_user(&mut self, user: UserId) {
        let owned: Vec<ConversationId> =
            self.conversations.values().filter(|c| c.user_id == user).map(|c| c.id).collect();
        for id in owned {
            self.conversations.remove(&id);
            self.messages.remove(&id);
        }
        self.usage.retain(|(owner, _), _| *owner != user);
    }

    pub(crate) fn owned(&self, id: ConversationId, owner: UserId) -> Option<&Conversation> {
        self.conversations.get(&id).filter(|c| c.user_id == owner)
    }
}
