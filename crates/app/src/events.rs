//! Event processing: the handlers that turn events into effects (the welcome email, the
//! order confirmation, the low-stock alert), the relay from the outbox to the stream, the
//! in-process dispatcher used when there is no stream, the stream worker with its retries
//! and dead letters, and the operations on dead letters.
//!
//! Delivery is at least once everywhere (an event may reach a handler twice: a relay or a
//! worker dies between doing and recording); handlers make that exactly one effect by
//! recording what they handled (`ProcessedEvents`).

use crate::AppError;
use crate::ports::{
    Clock, DeadLetter, DeadLetters, Delivery, EventOutbox, EventPublisher, EventQueue, Mail, Mailer, Page, PageRequest,
    ProcessedEvents, QueueLag, UserRepository,
};
use async_trait::async_trait;
use chrono::Duration;
use std::sync::Arc;
use storefront_domain::events::{OrderPlaced, ProductStockLow, UserRegistered};
use storefront_domain::{DomainEvent, EventId, EventType, Permission};

/// Why handling an event failed this time (it will be tried again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

impl From<crate::StoreError> for HandlerError {
    fn from(e: crate::StoreError) -> Self {
        HandlerError(e.to_string())
    }
}

/// Does what an event calls for. Must tolerate the same event twice (see the module).
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError>;
}

/// How often and how soon a failed event is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included, before the event is dead-lettered.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with each further failure.
    pub base_backoff: Duration,
    /// The longest wait between two tries.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_backoff: Duration::seconds(1), max_backoff: Duration::minutes(5) }
    }
}

impl RetryPolicy {
    /// The wait before the next try after `failures` failures (1 → base, 2 → 2 × base, …).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let factor = 1i32 << doublings;
        self.base_backoff.checked_mul(factor).unwrap_or(self.max_backoff).min(self.max_backoff)
    }

    /// Whether `failures` failures use up the tries.
    pub fn gives_up(&self, failures: u32) -> bool {
        failures >= self.max_attempts
    }
}

/// The mails events call for: a welcome on `user.registered`, a confirmation on
/// `order.placed`, and an alert to every active holder of `analytics:read` on
/// `product.stock_low`. Other events need no mail.
pub struct Notifications {
    users: Arc<dyn UserRepository>,
    mailer: Arc<dyn Mailer>,
    processed: Arc<dyn ProcessedEvents>,
    clock: Arc<dyn Clock>,
    /// ISO 4217 code of every amount.
    currency: String,
}

impl Notifications {
    pub fn new(
        users: Arc<dyn UserRepository>,
        mailer: Arc<dyn Mailer>,
        processed: Arc<dyn ProcessedEvents>,
        clock: Arc<dyn Clock>,
        currency: String,
    ) -> Self {
        Self { users, mailer, processed, clock, currency }
    }

    /// Sends `mail` for `event` unless `handler` already did.
    async fn send_once(&self, handler: &str, event: EventId, mut mail: Mail) -> Result<(), HandlerError> {
        mail.dedupe_key = format!("{event}.{}", handler.replace(':', "."));
        if self.processed.is_processed(handler, event).await? {
            tracing::debug!(handler, %event, "already handled; not sending again");
            return Ok(());
        }
        self.mailer.send(&mail).await.map_err(|e| HandlerError(e.to_string()))?;
        self.processed.mark_processed(handler, event, self.clock.now()).await?;
        // The mailer logs the mail itself, at info: once is enough.
        tracing::debug!(handler, %event, "mail handed to the mailer");
        Ok(())
    }

    async fn welcome(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let registered: UserRegistered = event.payload_as().map_err(HandlerError)?;
        // An account deleted since gets no welcome.
        let Some(user) = self.users.find_by_id(registered.user_id).await? else { return Ok(()) };
        let mail = Mail {
            to: user.email.as_str().to_owned(),
            to_name: user.name.as_str().to_owned(),
            subject: "Welcome to Storefront".into(),
            body: format!(
                "Hello {},\n\nyour Storefront account {} is ready. Happy shopping!\n\n— Storefront\n",
                user.name.as_str(),
                user.email.as_str()
            ),
            dedupe_key: String::new(),
        };
        self.send_once("welcome_email", event.id, mail).await
    }

    async fn order_confirmation(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let placed: OrderPlaced = event.payload_as().map_err(HandlerError)?;
        let Some(buyer) = placed.user_id else { return Ok(()) };
        let Some(user) = self.users.find_by_id(buyer).await? else { return Ok(()) };
        let mut body = format!("Hello {},\n\nthank you for your order {}:\n\n", user.name.as_str(), placed.order_id);
        for line in &placed.items {
            body.push_str(&format!(
                "  {} × {} at {} = {}\n",
                line.quantity,
                line.product_name,
                money(line.unit_price_cents, &self.currency),
                money(line.line_total_cents, &self.currency)
            ));
        }
        body.push_str(&format!("\nTotal: {}\n\n— Storefront\n", money(placed.total_cents, &self.currency)));
        let mail = Mail {
            to: user.email.as_str().to_owned(),
            to_name: user.name.as_str().to_owned(),
            subject: format!("Your order {} is confirmed", placed.order_id),
            body,
            dedupe_key: String::new(),
        };
        self.send_once("order_confirmation", event.id, mail).await
    }

    async fn low_stock_alert(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let low: ProductStockLow = event.payload_as().map_err(HandlerError)?;
        for user in self.users.active_holders_of(Permission::AnalyticsRead).await? {
            let mail = Mail {
                to: user.email.as_str().to_owned(),
                to_name: user.name.as_str().to_owned(),
                subject: format!("Low stock: {} ({} left)", low.name, low.stock),
                body: format!(
                    "Hello {},\n\nthe stock of {} ({}) is down to {}, at or below the threshold of {}.\n\n— Storefront\n",
                    user.name.as_str(),
                    low.name,
                    low.product_id,
                    low.stock,
                    low.threshold
                ),
                dedupe_key: String::new(),
            };
            // One record per recipient, so that a retry after a failure part-way through
            // mails only those not yet mailed.
            self.send_once(&format!("low_stock_alert:{}", user.id), event.id, mail).await?;
        }
        Ok(())
    }
}

/// `1234` cents as `12.34 USD`.
fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

#[async_trait]
impl EventHandler for Notifications {
    #[tracing::instrument(level = "debug", skip_all, fields(event = %event.id, kind = %event.event_type))]
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        if event.version != event.event_type.current_version() {
            return Err(HandlerError(format!(
                "{} v{} is not a version this handler reads",
                event.event_type, event.version
            )));
        }
        match event.event_type {
            EventType::UserRegistered => self.welcome(event).await,
            EventType::OrderPlaced => self.order_confirmation(event).await,
            EventType::ProductStockLow => self.low_stock_alert(event).await,
            EventType::OrderStatusChanged | EventType::OrderCancelled | EventType::ReviewCreated => Ok(()),
        }
    }
}

/// How the relay and the dispatcher take events from the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    /// Events taken at once.
    pub batch: usize,
    /// How long taken events are reserved to the one who took them; past it, another
    /// relay takes them (the first one died).
    pub lease: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { batch: 100, lease: Duration::seconds(30) }
    }
}

/// Publishes the outbox's events to the stream, oldest first, and marks them published.
/// Any number of relays may run: each batch is leased to one of them.
pub struct Relay {
    outbox: Arc<dyn EventOutbox>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    settings: OutboxSettings,
}

impl Relay {
    pub fn new(
        outbox: Arc<dyn EventOutbox>,
        publisher: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
        settings: OutboxSettings,
    ) -> Self {
        Self { outbox, publisher, clock, settings }
    }

    /// Publishes one batch; answers how many events went out. When the stream is down the
    /// events stay in the outbox (their lease runs out and they are due again): nothing is
    /// dropped.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let due = self.outbox.lease_due(self.settings.batch, self.clock.now(), self.settings.lease).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let events: Vec<DomainEvent> = due.into_iter().map(|entry| entry.event).collect();
        let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
        if let Err(e) = self.publisher.publish(&events).await {
            // Due again at once, for the next round (which the caller paces): an outage
            // delays events by its own length, not by a lease on top.
            self.outbox.release(&ids, self.clock.now()).await?;
            return Err(e.into());
        }
        self.outbox.mark_published(&ids, self.clock.now()).await?;
        Ok(events.len())
    }

    /// Events neither published nor dead.
    pub async fn backlog(&self) -> Result<u64, AppError> {
        Ok(self.outbox.backlog().await?)
    }
}

/// What one round of handling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandlingReport {
    pub handled: usize,
    /// Failed this time, to be tried again.
    pub failed: usize,
    /// Failed for good: moved to the dead letters.
    pub dead_lettered: usize,
}

impl HandlingReport {
    pub fn is_idle(&self) -> bool {
        self.handled + self.failed + self.dead_lettered == 0
    }
}

/// Without a stream: handles the outbox's events in this process, with the same handlers,
/// retries and dead letters (kept in the outbox) as the stream worker.
pub struct OutboxDispatcher {
    outbox: Arc<dyn EventOutbox>,
    handler: Arc<dyn EventHandler>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    settings: OutboxSettings,
}

impl OutboxDispatcher {
    pub fn new(
        outbox: Arc<dyn EventOutbox>,
        handler: Arc<dyn EventHandler>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
        settings: OutboxSettings,
    ) -> Self {
        Self { outbox, handler, clock, policy, settings }
    }

    /// Handles one batch of due events.
    pub async fn run_once(&self) -> Result<HandlingReport, AppError> {
        let mut report = HandlingReport::default();
        for entry in self.outbox.lease_due(self.settings.batch, self.clock.now(), self.settings.lease).await? {
            let id = entry.event.id;
            match self.handler.handle(&entry.event).await {
                Ok(()) => {
                    self.outbox.mark_published(&[id], self.clock.now()).await?;
                    report.handled += 1;
                }
                Err(HandlerError(error)) => {
                    let failures = entry.attempts + 1;
                    let now = self.clock.now();
                    if self.policy.gives_up(failures) {
                        tracing::error!(event = %id, failures, %error, "event handling failed for good; dead-lettered");
                        self.outbox.mark_failed(id, &error, None, now).await?;
                        report.dead_lettered += 1;
                    } else {
                        tracing::warn!(event = %id, failures, %error, "event handling failed; retrying later");
                        self.outbox.mark_failed(id, &error, Some(now + self.policy.backoff(failures)), now).await?;
                        report.failed += 1;
                    }
                }
            }
        }
        Ok(report)
    }
}

/// How a stream worker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long to wait for new entries before looking at retries again.
    pub wait: Duration,
    /// How long another consumer's entry must have been left unacknowledged before this
    /// worker takes it over (its consumer died); longer than any handling takes.
    pub claim_idle: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { wait: Duration::seconds(1), claim_idle: Duration::seconds(30) }
    }
}

/// One consumer of the stream's consumer group: takes over entries of dead consumers,
/// retries its own failures with backoff, handles new entries, acknowledges each after its
/// handler succeeded, and dead-letters an event whose handling failed `max_attempts` times.
///
/// Entries are handled one at a time, so that a worker told to stop finishes the one in
/// hand and leaves nothing else taken.
pub struct StreamWorker {
    queue: Arc<dyn EventQueue>,
    handler: Arc<dyn EventHandler>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    settings: WorkerSettings,
}

impl StreamWorker {
    pub fn new(
        queue: Arc<dyn EventQueue>,
        handler: Arc<dyn EventHandler>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
        settings: WorkerSettings,
    ) -> Self {
        Self { queue, handler, clock, policy, settings }
    }

    /// One round: an abandoned entry, else a due retry, else a new entry (waiting up to
    /// `wait` for one); handles what it took.
    pub async fn run_once(&self) -> Result<HandlingReport, AppError> {
        let mut taken = self.queue.reclaim_abandoned(self.settings.claim_idle, 1).await?;
        if taken.is_empty() {
            let policy = self.policy;
            taken = self.queue.due_retries(1, &move |failures, idle| idle >= policy.backoff(failures)).await?;
        }
        if taken.is_empty() {
            taken = self.queue.receive(1, self.settings.wait).await?;
        }
        let mut report = HandlingReport::default();
        for delivery in taken {
            self.process(&delivery, &mut report).await?;
        }
        Ok(report)
    }

    async fn process(&self, delivery: &Delivery, report: &mut HandlingReport) -> Result<(), AppError> {
        let event = match &delivery.event {
            Ok(event) => event,
            Err(unreadable) => {
                tracing::error!(receipt = %delivery.receipt, %unreadable, "unreadable stream entry; dead-lettered");
                self.queue.dead_letter(delivery, unreadable, self.clock.now()).await?;
                report.dead_lettered += 1;
                return Ok(());
            }
        };
        match self.handler.handle(event).await {
            Ok(()) => {
                self.queue.ack(delivery).await?;
                report.handled += 1;
            }
            Err(HandlerError(error)) => {
                let failures = self.queue.record_failure(delivery, &error).await?;
                if self.policy.gives_up(failures) {
                    tracing::error!(event = %event.id, failures, %error, "event handling failed for good; dead-lettered");
                    self.queue.dead_letter(delivery, &error, self.clock.now()).await?;
                    report.dead_lettered += 1;
                } else {
                    tracing::warn!(event = %event.id, failures, %error, "event handling failed; retrying later");
                    report.failed += 1;
                }
            }
        }
        Ok(())
    }

    pub async fn lag(&self) -> Result<QueueLag, AppError> {
        Ok(self.queue.lag().await?)
    }
}

/// The dead letters, for administrators.
#[derive(Clone)]
pub struct DeadLetterService {
    dead_letters: Arc<dyn DeadLetters>,
    clock: Arc<dyn Clock>,
}

impl DeadLetterService {
    pub fn new(dead_letters: Arc<dyn DeadLetters>, clock: Arc<dyn Clock>) -> Self {
        Self { dead_letters, clock }
    }

    pub async fn list(&self, page: PageRequest) -> Result<Page<DeadLetter>, AppError> {
        Ok(self.dead_letters.list(page).await?)
    }

    /// Puts a dead letter back to be handled again; `NotFound` for an unknown one.
    pub async fn retry(&self, id: EventId) -> Result<(), AppError> {
        if self.dead_letters.retry(id, self.clock.now()).await? { Ok(()) } else { Err(AppError::NotFound) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let policy =
            RetryPolicy { max_attempts: 4, base_backoff: Duration::seconds(2), max_backoff: Duration::seconds(10) };
        let waits: Vec<i64> = (1..=5).map(|f| policy.backoff(f).num_seconds()).collect();
        assert_eq!(waits, vec![2, 4, 8, 10, 10]);
        assert_eq!(policy.backoff(u32::MAX), Duration::seconds(10));
        assert!(!policy.gives_up(3) && policy.gives_up(4));
    }

    #[test]
    fn amounts_are_written_in_major_units() {
        assert_eq!(money(123_456, "USD"), "1234.56 USD");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(-250, "USD"), "-2.50 USD");
    }
}
