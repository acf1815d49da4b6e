//! Event processing: the handlers that turn events into effects (the welcome email, the
//! order confirmation, the low-stock alert), the relay from the outbox to the stream, the
//! in-process dispatcher used when there is no stream, the stream worker with its retries
//! and dead letters, and the operations on dead letters.
//!
//! Delivery is at least once everywhere (an event may reach a handler twice: a relay or a
//! worker dies between doing and recording, or the stream loses its data and the outbox,
//! which owes every event until it is handled, publishes it again); handlers make that
//! exactly one effect by recording what they handled (`ProcessedEvents`).

use crate::AppError;
use crate::lifecycle::LifecycleSettings;
use crate::ports::{
    Claim, Clock, DeadLetter, DeadLetters, Delivery, EventOutbox, EventPublisher, EventQueue, LinkPurpose,
    LinkTokenRepository, Mail, Mailer, NewLinkToken, OutboxBacklog, Page, PageRequest, ProcessedEvents, QueueLag,
    RefreshTokenMint, StreamEpoch, UserRepository,
};
use async_trait::async_trait;
use chrono::Duration;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use storefront_domain::events::{
    EmailChangeRequested, OrderPlaced, PasswordResetRequested, ProductStockLow, UserRef, UserRegistered,
};
use storefront_domain::{DomainEvent, Email, EventId, EventType, Permission, User};

/// Why an event was not handled this time (it will be tried again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Handling failed; counts towards the event's tries.
    #[error("{0}")]
    Failed(String),
    /// Not this worker's turn: another holds the event's claim (handling it now, or died
    /// doing so and its claim has not ended). Tried again later without counting a failure.
    #[error("{0}")]
    Deferred(String),
}

impl From<crate::StoreError> for HandlerError {
    fn from(e: crate::StoreError) -> Self {
        HandlerError::Failed(e.to_string())
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

/// What the account mails need: where link tokens are kept, how they are made, and the
/// links' base URL and lifetimes.
#[derive(Clone)]
pub struct AccountMail {
    pub links: Arc<dyn LinkTokenRepository>,
    pub tokens: Arc<dyn RefreshTokenMint>,
    pub settings: LifecycleSettings,
}

/// The mails events call for: a welcome carrying a verification link on `user.registered`, a
/// verification link on `user.verification_requested`, a reset link on
/// `user.password_reset_requested` (only to an active account with that address), a notice
/// on `user.password_reset`, a confirmation link to the new address and a notice to the old
/// one on `user.email_change_requested`, a confirmation on `order.placed`, and an alert to
/// every active holder of `analytics:read` on `product.stock_low`. Other events need no
/// mail.
///
/// A link's token is made only once the handler holds the mail's claim, and only its hash
/// is stored: the outbox and the stream never carry a usable token.
pub struct Notifications {
    users: Arc<dyn UserRepository>,
    mailer: Arc<dyn Mailer>,
    processed: Arc<dyn ProcessedEvents>,
    account: AccountMail,
    clock: Arc<dyn Clock>,
    /// ISO 4217 code of every amount.
    currency: String,
    /// How long a claim on sending one mail holds: longer than sending can take.
    claim_for: Duration,
}

impl Notifications {
    /// `claim_for`: how long one worker's claim on sending a mail keeps others from
    /// sending it; longer than a send can take (the SMTP timeout and then some).
    pub fn new(
        users: Arc<dyn UserRepository>,
        mailer: Arc<dyn Mailer>,
        processed: Arc<dyn ProcessedEvents>,
        account: AccountMail,
        clock: Arc<dyn Clock>,
        currency: String,
        claim_for: Duration,
    ) -> Self {
        Self { users, mailer, processed, account, clock, currency, claim_for }
    }

    /// Claims sending `handler`'s mail for `event`: `true` when this worker is to send it,
    /// `false` when it was sent already. The claim is taken durably before sending, so two
    /// workers handed the same event at once (a redelivery, a takeover) never both send:
    /// the second is told to come back later.
    async fn claim(&self, handler: &str, event: EventId) -> Result<bool, HandlerError> {
        let now = self.clock.now();
        match self.processed.claim(handler, event, now, now + self.claim_for).await? {
            Claim::Done => {
                tracing::debug!(handler, %event, "already handled; not sending again");
                Ok(false)
            }
            Claim::Busy => Err(HandlerError::Deferred(format!("{handler} of {event} is in another worker's hands"))),
            Claim::Mine => Ok(true),
        }
    }

    /// Gives a claim back unused, so the retry can claim at once; if that fails too, the
    /// claim ends by itself.
    async fn release(&self, handler: &str, event: EventId) {
        if let Err(release) = self.processed.release_claim(handler, event).await {
            tracing::warn!(handler, %event, error = %release, "cannot give a claim back; it will expire");
        }
    }

    /// Sends `mail` for `event` unless `handler` already did.
    async fn send_once(&self, handler: &str, event: EventId, mail: Mail) -> Result<(), HandlerError> {
        if !self.claim(handler, event).await? {
            return Ok(());
        }
        self.deliver(handler, event, mail).await
    }

    /// Sends a mail carrying a new link token of `purpose` for `user` (to `to`), unless
    /// `handler` already did: the token is made and stored only under the claim, so a
    /// retried event mails one working link, never a link the store does not know.
    async fn send_link_once(
        &self,
        handler: &str,
        event: EventId,
        user: &User,
        purpose: LinkPurpose,
        to: &Email,
        compose: impl FnOnce(&str) -> Mail,
    ) -> Result<(), HandlerError> {
        if !self.claim(handler, event).await? {
            return Ok(());
        }
        let now = self.clock.now();
        let (token, hash) = self.account.tokens.generate();
        let settings = &self.account.settings;
        let link = NewLinkToken {
            hash,
            purpose,
            user_id: user.id,
            email: to.clone(),
            created_at: now,
            expires_at: now + settings.ttl(purpose),
        };
        if let Err(e) = self.account.links.create_link(link).await {
            self.release(handler, event).await;
            return Err(e.into());
        }
        let mail = compose(&settings.link(purpose, &token));
        self.deliver(handler, event, mail).await
    }

    /// Sends a claimed mail and records it sent; on failure gives the claim back.
    async fn deliver(&self, handler: &str, event: EventId, mut mail: Mail) -> Result<(), HandlerError> {
        mail.dedupe_key = format!("{event}.{}", handler.replace(':', "."));
        if let Err(e) = self.mailer.send(&mail).await {
            self.release(handler, event).await;
            return Err(HandlerError::Failed(e.to_string()));
        }
        self.processed.mark_processed(handler, event, self.clock.now()).await?;
        // The mailer logs the mail itself, at info: once is enough.
        tracing::debug!(handler, %event, "mail handed to the mailer");
        Ok(())
    }

    /// The welcome, which carries the account's first verification link (one mail per
    /// registration; an account verified by then gets the welcome alone).
    async fn welcome(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let registered: UserRegistered = event.payload_as().map_err(HandlerError::Failed)?;
        // An account deleted since gets no welcome.
        let Some(user) = self.users.find_by_id(registered.user_id).await? else { return Ok(()) };
        let ready = format!("your Storefront account {} is ready. Happy shopping!", user.email.as_str());
        if user.email_verified {
            let mail = notice_mail(&user, &user.email, "Welcome to Storefront", &ready);
            return self.send_once("welcome_email", event.id, mail).await;
        }
        let ttl = hours(self.account.settings.email_link_ttl);
        self.send_link_once("welcome_email", event.id, &user, LinkPurpose::VerifyEmail, &user.email, |link| {
            link_mail(
                &user,
                &user.email,
                "Welcome to Storefront",
                &format!("{ready} Please confirm that this is your email address by opening the link below."),
                link,
                "Confirm my address",
                &format!("The link works for {ttl}. If you did not create a Storefront account, ignore this mail."),
            )
        })
        .await
    }

    /// A verification link to the user's current address, unless it is verified already.
    async fn verification_link(&self, event: EventId, user: &User) -> Result<(), HandlerError> {
        if user.email_verified {
            return Ok(());
        }
        self.send_link_once("verification_email", event, user, LinkPurpose::VerifyEmail, &user.email, |link| {
            link_mail(
                user,
                &user.email,
                "Confirm your email address",
                "please confirm that this is your email address by opening the link below.",
                link,
                "Confirm my address",
                &format!(
                    "The link works for {}. If you did not create a Storefront account, ignore this mail.",
                    hours(self.account.settings.email_link_ttl)
                ),
            )
        })
        .await
    }

    async fn verification_requested(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let requested: UserRef = event.payload_as().map_err(HandlerError::Failed)?;
        let Some(user) = self.users.find_by_id(requested.user_id).await? else { return Ok(()) };
        self.verification_link(event.id, &user).await
    }

    /// Only an active account with the address gets a link; nothing at all otherwise (the
    /// request answered the same either way).
    async fn password_reset_link(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let requested: PasswordResetRequested = event.payload_as().map_err(HandlerError::Failed)?;
        let Ok(email) = Email::parse(&requested.email) else { return Ok(()) };
        let Some(credentials) = self.users.find_credentials_by_email(&email).await? else { return Ok(()) };
        let user = credentials.user;
        if !user.is_active {
            return Ok(());
        }
        let ttl = self.account.settings.password_reset_ttl;
        self.send_link_once("password_reset_email", event.id, &user, LinkPurpose::ResetPassword, &user.email, |link| {
            link_mail(
                &user,
                &user.email,
                "Reset your Storefront password",
                "someone (hopefully you) asked to reset the password of your Storefront account. Choose a new \
                 password by opening the link below.",
                link,
                "Choose a new password",
                &format!(
                    "The link works once, for {} minutes. If you did not ask for it, ignore this mail: your \
                     password stays as it is.",
                    ttl.num_minutes()
                ),
            )
        })
        .await
    }

    async fn password_changed_notice(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let reset: UserRef = event.payload_as().map_err(HandlerError::Failed)?;
        let Some(user) = self.users.find_by_id(reset.user_id).await? else { return Ok(()) };
        let mail = notice_mail(
            &user,
            &user.email,
            "Your Storefront password was changed",
            "the password of your Storefront account was just changed through a reset link, and every session \
             was logged out. If this was not you, reset your password again at once and contact us.",
        );
        self.send_once("password_changed_notice", event.id, mail).await
    }

    async fn email_change(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let change: EmailChangeRequested = event.payload_as().map_err(HandlerError::Failed)?;
        let Some(user) = self.users.find_by_id(change.user_id).await? else { return Ok(()) };
        let Ok(new_email) = Email::parse(&change.new_email) else {
            return Err(HandlerError::Failed(format!("{} carries an invalid address", event.id)));
        };
        let old_email = Email::parse(&change.old_email).unwrap_or_else(|_| user.email.clone());
        self.send_link_once("email_change_link", event.id, &user, LinkPurpose::ChangeEmail, &new_email, |link| {
            link_mail(
                &user,
                &new_email,
                "Confirm your new email address",
                &format!(
                    "you asked to use {} for your Storefront account instead of {}. Confirm by opening the link below.",
                    new_email.as_str(),
                    old_email.as_str()
                ),
                link,
                "Confirm my new address",
                &format!(
                    "The link works once, for {}. Until then your account keeps its current address.",
                    hours(self.account.settings.email_link_ttl)
                ),
            )
        })
        .await?;
        let notice = notice_mail(
            &user,
            &old_email,
            "Your Storefront email address is about to change",
            &format!(
                "someone (hopefully you) asked to change the email address of your Storefront account to {}. \
                 The change happens only once the new address is confirmed. If this was not you, change your \
                 password now.",
                new_email.as_str()
            ),
        );
        self.send_once("email_change_notice", event.id, notice).await
    }

    async fn order_confirmation(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let placed: OrderPlaced = event.payload_as().map_err(HandlerError::Failed)?;
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
            html: None,
            dedupe_key: String::new(),
        };
        self.send_once("order_confirmation", event.id, mail).await
    }

    async fn low_stock_alert(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        let low: ProductStockLow = event.payload_as().map_err(HandlerError::Failed)?;
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
                html: None,
                dedupe_key: String::new(),
            };
            // One record per recipient, so that a retry after a failure part-way through
            // mails only those not yet mailed.
            self.send_once(&format!("low_stock_alert:{}", user.id), event.id, mail).await?;
        }
        Ok(())
    }
}

/// A mail with a link, as plain text and as HTML.
fn link_mail(user: &User, to: &Email, subject: &str, intro: &str, link: &str, action: &str, outro: &str) -> Mail {
    let name = user.name.as_str();
    let body = format!("Hello {name},\n\n{intro}\n\n{link}\n\n{outro}\n\n— Storefront\n");
    let html = format!(
        "<!DOCTYPE html><html><body><p>Hello {},</p><p>{}</p><p><a href=\"{}\">{}</a></p><p>{}</p>\
         <p>— Storefront</p></body></html>",
        escape_html(name),
        escape_html(intro),
        escape_html(link),
        escape_html(action),
        escape_html(outro)
    );
    Mail {
        to: to.as_str().to_owned(),
        to_name: name.to_owned(),
        subject: subject.to_owned(),
        body,
        html: Some(html),
        dedupe_key: String::new(),
    }
}

/// A mail without a link, as plain text and as HTML.
fn notice_mail(user: &User, to: &Email, subject: &str, text: &str) -> Mail {
    let name = user.name.as_str();
    Mail {
        to: to.as_str().to_owned(),
        to_name: name.to_owned(),
        subject: subject.to_owned(),
        body: format!("Hello {name},\n\n{text}\n\n— Storefront\n"),
        html: Some(format!(
            "<!DOCTYPE html><html><body><p>Hello {},</p><p>{}</p><p>— Storefront</p></body></html>",
            escape_html(name),
            escape_html(text)
        )),
        dedupe_key: String::new(),
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A lifetime in words: `24 hours`, `90 minutes`.
fn hours(ttl: Duration) -> String {
    if ttl.num_minutes() % 60 == 0 && ttl.num_hours() > 0 {
        format!("{} hours", ttl.num_hours())
    } else {
        format!("{} minutes", ttl.num_minutes())
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
            return Err(HandlerError::Failed(format!(
                "{} v{} is not a version this handler reads",
                event.event_type, event.version
            )));
        }
        match event.event_type {
            EventType::UserRegistered => self.welcome(event).await,
            EventType::OrderPlaced => self.order_confirmation(event).await,
            EventType::ProductStockLow => self.low_stock_alert(event).await,
            EventType::VerificationRequested => self.verification_requested(event).await,
            EventType::PasswordResetRequested => self.password_reset_link(event).await,
            EventType::PasswordReset => self.password_changed_notice(event).await,
            EventType::EmailChangeRequested => self.email_change(event).await,
            EventType::OrderStatusChanged
            | EventType::OrderCancelled
            | EventType::ReviewCreated
            | EventType::ReviewUpdated => Ok(()),
        }
    }
}

/// Several handlers as one: each event goes to every handler, in order; the first failure
/// stops the round and the event is tried again, so every handler must tolerate an event
/// it already handled (see the module).
pub struct HandlerChain {
    handlers: Vec<Arc<dyn EventHandler>>,
}

impl HandlerChain {
    pub fn new(handlers: Vec<Arc<dyn EventHandler>>) -> Self {
        Self { handlers }
    }
}

#[async_trait]
impl EventHandler for HandlerChain {
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        for handler in &self.handlers {
            handler.handle(event).await?;
        }
        Ok(())
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
    /// How long a published event may stay unhandled before it is published again (the
    /// stream may have lost it: trimmed, evicted, or gone with a restart the stream's epoch
    /// did not reveal). Longer than the longest backlog the workers are expected to drain.
    pub redeliver_after: Duration,
    /// Events handled at once by the in-process dispatcher.
    pub concurrency: usize,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { batch: 100, lease: Duration::seconds(30), redeliver_after: Duration::minutes(5), concurrency: 16 }
    }
}

/// Publishes the outbox's owed events to the stream, oldest first, and records when. An
/// event stays owed until a worker has handled it: when the stream begins a new epoch (it
/// lost its data), everything published but not yet handled is published again at once;
/// anything else published and not handled within `redeliver_after` is published again
/// then. Any number of relays may run: each batch is leased to one of them.
pub struct Relay {
    outbox: Arc<dyn EventOutbox>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    settings: OutboxSettings,
    /// The stream epoch this relay last published into.
    epoch: Mutex<Option<String>>,
}

impl Relay {
    pub fn new(
        outbox: Arc<dyn EventOutbox>,
        publisher: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
        settings: OutboxSettings,
    ) -> Self {
        Self { outbox, publisher, clock, settings, epoch: Mutex::new(None) }
    }

    /// Publishes one batch (or, with nothing due, only checks the stream's epoch); answers
    /// how many events went out. When the stream is down the events stay in the outbox
    /// (released, due again at once): nothing is dropped.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let due = self.outbox.lease_due(self.settings.batch, self.clock.now(), self.settings.lease).await?;
        let events: Vec<DomainEvent> = due.into_iter().map(|entry| entry.event).collect();
        let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
        let epoch = match self.publisher.publish(&events).await {
            Ok(epoch) => epoch,
            Err(e) => {
                if !ids.is_empty() {
                    // Due again at once, for the next round (which the caller paces): an
                    // outage delays events by its own length, not by a lease on top.
                    self.outbox.release(&ids, self.clock.now()).await?;
                }
                return Err(e.into());
            }
        };
        self.follow_epoch(epoch).await?;
        if !ids.is_empty() {
            let now = self.clock.now();
            self.outbox.mark_published(&ids, now, now + self.settings.redeliver_after).await?;
        }
        Ok(events.len())
    }

    /// When the stream is in another epoch than this relay last saw (or began one just
    /// now), what was published before may be gone: everything published and owed is due
    /// again. The epoch is remembered only once that is done, so a failure retries it.
    async fn follow_epoch(&self, epoch: StreamEpoch) -> Result<(), AppError> {
        let changed = {
            let known = self.epoch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            epoch.began || known.as_ref().is_some_and(|known| *known != epoch.id)
        };
        if changed {
            let again = self.outbox.redeliver_published(self.clock.now()).await?;
            if again > 0 {
                tracing::warn!(
                    epoch = %epoch.id,
                    events = again,
                    "the event stream lost its data (a new epoch began): publishing every unhandled event again"
                );
            }
        }
        *self.epoch.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(epoch.id);
        Ok(())
    }

    /// How many events are owed, and since when.
    pub async fn backlog(&self) -> Result<OutboxBacklog, AppError> {
        Ok(self.outbox.backlog().await?)
    }
}

/// What one round of handling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandlingReport {
    pub handled: usize,
    /// Failed this time, to be tried again.
    pub failed: usize,
    /// Left for later without counting a failure (another worker holds the claim).
    pub deferred: usize,
    /// Failed for good: moved to the dead letters.
    pub dead_lettered: usize,
}

impl HandlingReport {
    pub fn is_idle(&self) -> bool {
        self.handled + self.failed + self.deferred + self.dead_lettered == 0
    }
}

/// Runs the futures, at most `concurrency` at once; their outputs in the futures' order.
/// (They come as a `Vec` rather than through a closure so that the compiler can see the
/// whole round is `Send`.)
async fn run_concurrently<F: std::future::Future>(futures: Vec<F>, concurrency: usize) -> Vec<F::Output> {
    futures::stream::iter(futures).buffered(concurrency.max(1)).collect().await
}

/// Without a stream: handles the outbox's events in this process, several at once, with
/// the same handlers, retries and dead letters (kept in the outbox) as the stream worker.
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

    /// Handles one batch of due events, `concurrency` at a time; the handled ones are
    /// settled together.
    pub async fn run_once(&self) -> Result<HandlingReport, AppError> {
        let due = self.outbox.lease_due(self.settings.batch, self.clock.now(), self.settings.lease).await?;
        let handlings: Vec<_> = due.iter().map(|entry| self.handler.handle(&entry.event)).collect();
        let outcomes = run_concurrently(handlings, self.settings.concurrency).await;
        let mut report = HandlingReport::default();
        let mut handled = Vec::new();
        for (entry, outcome) in due.iter().zip(outcomes) {
            let id = entry.event.id;
            match outcome {
                Ok(()) => handled.push(id),
                Err(HandlerError::Deferred(why)) => {
                    tracing::debug!(event = %id, %why, "event deferred");
                    let now = self.clock.now();
                    let retry_at = now + self.policy.backoff(1);
                    self.outbox.mark_failed(id, &why, entry.attempts, Some(retry_at), now).await?;
                    report.deferred += 1;
                }
                Err(HandlerError::Failed(error)) => {
                    let failures = entry.attempts.saturating_add(1);
                    let now = self.clock.now();
                    if self.policy.gives_up(failures) {
                        tracing::error!(event = %id, failures, %error, "event handling failed for good; dead-lettered");
                        self.outbox.mark_failed(id, &error, failures, None, now).await?;
                        report.dead_lettered += 1;
                    } else {
                        tracing::warn!(event = %id, failures, %error, "event handling failed; retrying later");
                        let retry_at = now + self.policy.backoff(failures);
                        self.outbox.mark_failed(id, &error, failures, Some(retry_at), now).await?;
                        report.failed += 1;
                    }
                }
            }
        }
        if !handled.is_empty() {
            self.outbox.mark_handled(&handled, self.clock.now()).await?;
            report.handled = handled.len();
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
    /// Entries taken and handled at once.
    pub concurrency: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { wait: Duration::seconds(1), claim_idle: Duration::seconds(30), concurrency: 16 }
    }
}

/// One consumer of the stream's consumer group: takes over entries of dead consumers,
/// retries its own failures with backoff, handles new entries — up to `concurrency` at
/// once —, settles the handled events in the outbox and then acknowledges their entries
/// (both in one round trip per round), and dead-letters (in the outbox) an event whose
/// handling failed `max_attempts` times.
///
/// A worker told to stop finishes the round in hand; what it has not acknowledged stays
/// pending and is taken over.
pub struct StreamWorker {
    queue: Arc<dyn EventQueue>,
    outbox: Arc<dyn EventOutbox>,
    handler: Arc<dyn EventHandler>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    settings: WorkerSettings,
}

/// What became of one delivery.
enum Outcome {
    Handled(EventId),
    Failed(EventId, String),
    Deferred(EventId, String),
    Unreadable(String),
}

impl StreamWorker {
    pub fn new(
        queue: Arc<dyn EventQueue>,
        outbox: Arc<dyn EventOutbox>,
        handler: Arc<dyn EventHandler>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
        settings: WorkerSettings,
    ) -> Self {
        Self { queue, outbox, handler, clock, policy, settings }
    }

    /// One round: abandoned entries, else due retries, else new entries (waiting up to
    /// `wait` for some), at most `concurrency`; handles what it took.
    pub async fn run_once(&self) -> Result<HandlingReport, AppError> {
        let most = self.settings.concurrency.max(1);
        let mut taken = self.queue.reclaim_abandoned(self.settings.claim_idle, most).await?;
        if taken.is_empty() {
            let policy = self.policy;
            taken = self.queue.due_retries(most, &move |failures, idle| idle >= policy.backoff(failures)).await?;
        }
        if taken.is_empty() {
            taken = self.queue.receive(most, self.settings.wait).await?;
        }
        self.process(taken).await
    }

    async fn handle(&self, delivery: &Delivery) -> Outcome {
        match &delivery.event {
            Ok(event) => match self.handler.handle(event).await {
                Ok(()) => Outcome::Handled(event.id),
                Err(HandlerError::Failed(error)) => Outcome::Failed(event.id, error),
                Err(HandlerError::Deferred(why)) => Outcome::Deferred(event.id, why),
            },
            Err(unreadable) => Outcome::Unreadable(unreadable.clone()),
        }
    }

    async fn process(&self, taken: Vec<Delivery>) -> Result<HandlingReport, AppError> {
        let handlings: Vec<_> = taken.iter().map(|delivery| self.handle(delivery)).collect();
        let outcomes = run_concurrently(handlings, self.settings.concurrency).await;
        let mut report = HandlingReport::default();
        let mut settled: Vec<EventId> = Vec::new();
        let mut done: Vec<&Delivery> = Vec::new();
        for (delivery, outcome) in taken.iter().zip(&outcomes) {
            match outcome {
                Outcome::Handled(id) => {
                    settled.push(*id);
                    done.push(delivery);
                    report.handled += 1;
                }
                Outcome::Deferred(id, why) => {
                    // Stays pending, its count of failures untouched: taken again as a
                    // due retry.
                    tracing::debug!(event = %id, %why, "event deferred");
                    report.deferred += 1;
                }
                Outcome::Unreadable(why) => {
                    // No event to settle or dead-letter; if the entry was one of the
                    // outbox's, the outbox still owes it and publishes it again.
                    tracing::error!(receipt = %delivery.receipt, %why, "unreadable stream entry; dropped");
                    done.push(delivery);
                    report.dead_lettered += 1;
                }
                Outcome::Failed(id, error) => {
                    let failures = self.queue.record_failure(delivery, error).await?;
                    if self.policy.gives_up(failures) {
                        tracing::error!(event = %id, failures, %error, "event handling failed for good; dead-lettered");
                        self.outbox.mark_failed(*id, error, failures, None, self.clock.now()).await?;
                        done.push(delivery);
                        report.dead_lettered += 1;
                    } else {
                        tracing::warn!(event = %id, failures, %error, "event handling failed; retrying later");
                        report.failed += 1;
                    }
                }
            }
        }
        // Settled first, acknowledged second: a worker dying in between leaves entries that
        // are taken over and found handled, never events acknowledged and still owed.
        if !settled.is_empty() {
            self.outbox.mark_handled(&settled, self.clock.now()).await?;
        }
        if !done.is_empty() {
            self.queue.ack(&done).await?;
        }
        Ok(report)
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
    fn html_is_escaped_and_lifetimes_are_in_words() {
        assert_eq!(escape_html(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(hours(Duration::hours(24)), "24 hours");
        assert_eq!(hours(Duration::minutes(30)), "30 minutes");
    }

    #[test]
    fn amounts_are_written_in_major_units() {
        assert_eq!(money(123_456, "USD"), "1234.56 USD");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(-250, "USD"), "-2.50 USD");
    }
}
