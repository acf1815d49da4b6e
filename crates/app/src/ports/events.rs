//! The ports of event-driven processing: the transactional outbox every state change writes
//! its events to, the stream the relay publishes them on, the consumer side of that stream,
//! dead letters, the record of handled events, and mail.

use super::{Page, PageRequest};
use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use storefront_domain::{DomainEvent, EventId};

/// An event waiting in the outbox, with how often handling it failed so far (in-process
/// dispatch only; the stream keeps its own count).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub event: DomainEvent,
    pub attempts: u32,
}

/// How far the outbox is behind: the events still owed to their handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxBacklog {
    /// Events neither handled nor dead (published or not).
    pub owed: u64,
    /// When the oldest owed event occurred; `None` when nothing is owed.
    pub oldest_owed_at: Option<DateTime<Utc>>,
}

/// The transactional outbox. The store's state-changing methods write their events here in
/// the same transaction as the change (see each port's contract); this port is how they
/// leave it.
///
/// An event is *owed* until its handlers have finished it (`mark_handled`) or it is dead:
/// publishing it to a stream does not settle it, because a stream can lose what it holds
/// (a Redis restart without persistence, a failover, a flush). A published event is due
/// again at the `redeliver_at` its relay gave, or at once after `redeliver_published`.
#[async_trait]
pub trait EventOutbox: Send + Sync {
    /// Leases up to `limit` due events — owed, available at `now` — oldest first, so that no
    /// other relay or dispatcher gets them before `now + lease`: any number of relays may
    /// run at once. An event whose lease runs out unpublished (its relay died) is due
    /// again.
    async fn lease_due(
        &self,
        limit: usize,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Gives leased events back before their lease ends (their relay could not publish
    /// them): they are due again at `now`. Unknown or settled ids are ignored.
    async fn release(&self, ids: &[EventId], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records that the events were appended to the stream at `now`; they stay owed, and
    /// are due to be published again at `redeliver_at` unless handled by then. Unknown or
    /// settled ids are ignored.
    async fn mark_published(
        &self,
        ids: &[EventId],
        now: DateTime<Utc>,
        redeliver_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Makes every published, still owed event due at `now`: the stream they were published
    /// to lost its data. Answers how many.
    async fn redeliver_published(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Settles events: their handlers have finished them. They are never handed out again.
    /// Unknown, settled or dead ids are ignored.
    async fn mark_handled(&self, ids: &[EventId], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records that handling the event failed with `error`, `attempts` times in all: it is
    /// due again at `retry_at`, or, without one, it is dead (listed by `DeadLetters`).
    /// Unknown or settled ids are ignored.
    async fn mark_failed(
        &self,
        id: EventId,
        error: &str,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// How many events are owed, and the oldest one's time.
    async fn backlog(&self) -> Result<OutboxBacklog, StoreError>;

    /// Every event in the outbox, in the order they were written, whatever their state.
    async fn events(&self, page: PageRequest) -> Result<Page<DomainEvent>, StoreError>;

    /// Deletes the events handled before `before` (owed and dead ones stay); answers how
    /// many.
    async fn purge_handled(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// An event whose handling failed for good.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub event: DomainEvent,
    /// The last handling error.
    pub error: String,
    /// How many times handling it was tried.
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
}

/// The events whose handling failed for good, and putting one back.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Newest first.
    async fn list(&self, page: PageRequest) -> Result<Page<DeadLetter>, StoreError>;

    /// Puts the event back to be handled again, with a fresh count of attempts; `false`
    /// when no dead letter has this id.
    async fn retry(&self, id: EventId, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// Which life of the stream events were published into. A stream that loses its data (a
/// restart without persistence, a failover, a flush) starts a new epoch, and whatever was
/// published into the old one must be published again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEpoch {
    /// Names the epoch; another id is another epoch.
    pub id: String,
    /// This call began the epoch: the stream had none (it is new, or lost its data).
    pub began: bool,
}

/// Where the relay publishes the outbox's events: an append-only stream.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Appends the events, in this order, each carrying its id, and answers the stream's
    /// epoch they went into (beginning one if the stream has none), atomically with the
    /// append. With no events it only answers the epoch. On an error the caller cannot know
    /// which were appended: it publishes them all again later, and consumers ignore an
    /// event id they have handled.
    async fn publish(&self, events: &[DomainEvent]) -> Result<StreamEpoch, StoreError>;
}

/// One event handed to a consumer by the stream, until it is acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The stream's id of the entry, to acknowledge or dead-letter it by.
    pub receipt: String,
    /// The event, or why the entry could not be read as one.
    pub event: Result<DomainEvent, String>,
    /// How many times handling this event failed so far (any consumer).
    pub failures: u32,
}

/// What the stream's consumers have not done yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueLag {
    /// Entries no consumer of the group has been handed yet.
    pub undelivered: u64,
    /// Entries handed out and not acknowledged (in progress, failed, or of a dead consumer).
    pub pending: u64,
}

/// The consumer side of the event stream: one consumer of a consumer group, so that any
/// number of workers share the load and each entry goes to one of them at a time.
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Entries not yet handed to any consumer of the group, up to `max`, waiting up to
    /// `wait` when there are none.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError>;

    /// Entries another consumer took and has left unacknowledged for at least `idle`
    /// (it died, or hangs), taken over by this consumer.
    async fn reclaim_abandoned(&self, idle: Duration, max: usize) -> Result<Vec<Delivery>, StoreError>;

    /// This consumer's own unacknowledged entries (failed earlier) for which `due(failures,
    /// idle)` says a retry is due, taken again (which restarts their idle time).
    async fn due_retries(
        &self,
        max: usize,
        due: &(dyn Fn(u32, Duration) -> bool + Send + Sync),
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Done with the entries: they are never handed out again.
    async fn ack(&self, deliveries: &[&Delivery]) -> Result<(), StoreError>;

    /// Counts one more failure of the entry's event (kept with the stream, so that every
    /// consumer sees it) and answers the count; the entry stays unacknowledged.
    async fn record_failure(&self, delivery: &Delivery, error: &str) -> Result<u32, StoreError>;

    async fn lag(&self) -> Result<QueueLag, StoreError>;
}

/// What `ProcessedEvents::claim` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the claim until it ends: do the effect, then `mark_processed`.
    Mine,
    /// The handler has handled the event already: nothing to do.
    Done,
    /// Another worker holds a live claim (it is doing the effect now, or died doing it and
    /// its claim has not ended yet): try again later.
    Busy,
}

/// Which handlers have handled which events, so that an event delivered twice — even to
/// two workers at once — has its effect once.
#[async_trait]
pub trait ProcessedEvents: Send + Sync {
    /// Whether `handler` has recorded `event` as handled.
    async fn is_processed(&self, handler: &str, event: EventId) -> Result<bool, StoreError>;

    /// Claims `(handler, event)` until `until`, durably and atomically: of any number of
    /// concurrent callers at most one gets `Mine` while the claim lives; a claim that ended
    /// (its holder died) can be taken again. `Done` once the event is recorded as handled.
    async fn claim(
        &self,
        handler: &str,
        event: EventId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;

    /// Gives a claim back unused (the effect failed): the next try may claim at once. A
    /// handled event stays handled.
    async fn release_claim(&self, handler: &str, event: EventId) -> Result<(), StoreError>;

    /// Records `event` as handled by `handler` (claimed or not); recording it twice is
    /// harmless.
    async fn mark_processed(&self, handler: &str, event: EventId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Forgets what was handled before `before` (long after any redelivery can come), and
    /// claims that ended before it unused; answers how many records went.
    async fn purge_processed(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The recipient's name, for the `To` header.
    pub to_name: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// The same as HTML, sent as the alternative to `body` when present.
    pub html: Option<String>,
    /// The same for every attempt to send this mail (handler and event), so that a mail
    /// sent again after a crash between sending and recording carries the same
    /// `Message-ID` and the receiving side can recognise the duplicate.
    pub dedupe_key: String,
}

/// Why a mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail not sent: {0}")]
pub struct MailError(pub String);

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands the mail to the mail system; an error means it was not accepted (retry later).
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}
