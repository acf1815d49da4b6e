//! Event processing in the binary: the mailer configuration chooses, the notification
//! handlers over the store, and the background loops — the in-process dispatcher, the relay
//! to the stream, the stream worker and the outbox purge — each running until told to stop,
//! finishing the round in hand first, and counting what they do in metrics.

use crate::error::StartupError;
use crate::settings::{MailBackend, MailSettings, Settings, SmtpSecurityName};
use crate::signals::shutdown_signal;
use crate::store::{Ports, Store};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use storefront_app::ports::{Mailer, SystemClock};
use storefront_app::{
    AccountMail, AppError, EventHandler, HandlerChain, HandlingReport, Notifications, OutboxDispatcher,
    ReviewModerationHandler,
};
use storefront_app::{Relay, StreamWorker, WorkerSettings};
use storefront_auth::RandomRefreshTokens;
use storefront_mail::{LogMailer, SmtpMailer, SmtpSecurity, SmtpSettings};
use storefront_redis::{RedisConnection, RedisEventStream, RedisSettings, StreamNames};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The mailer `mail.backend` names.
///
/// # Errors
/// An SMTP configuration that cannot work (a sender that is not an address, TLS that
/// cannot be set up).
pub fn mailer(settings: &MailSettings, sent_at_once: usize) -> Result<Arc<dyn Mailer>, String> {
    match settings.backend {
        MailBackend::Log => Ok(Arc::new(LogMailer)),
        MailBackend::Smtp => {
            let smtp = SmtpSettings {
                host: settings.smtp_host.clone(),
                port: settings.smtp_port,
                security: match settings.smtp_security {
                    SmtpSecurityName::None => SmtpSecurity::None,
                    SmtpSecurityName::Starttls => SmtpSecurity::StartTls,
                    SmtpSecurityName::Tls => SmtpSecurity::Tls,
                },
                credentials: settings.smtp_username.clone().zip(settings.smtp_password.clone()),
                from: settings.from.clone(),
                timeout: Duration::from_millis(settings.smtp_timeout_ms),
                pool_size: u32::try_from(sent_at_once).unwrap_or(u32::MAX),
            };
            Ok(Arc::new(SmtpMailer::new(&smtp).map_err(|e| e.to_string())?))
        }
    }
}

/// The handlers of every event, in order: the notification mails (with the account links
/// they make), the moderation of new and edited reviews, then the review summaries' refresh.
pub fn handlers(settings: &Settings, store: &Store) -> Result<Arc<dyn EventHandler>, String> {
    let Ports { users, processed, links, reviews, .. } = store.ports();
    let mailer = mailer(&settings.mail, settings.events.concurrency)?;
    let account = AccountMail { links, tokens: Arc::new(RandomRefreshTokens), settings: settings.lifecycle() };
    let notifications = Notifications::new(
        users,
        mailer,
        processed,
        account,
        Arc::new(SystemClock),
        settings.catalog.currency.clone(),
        one_send_at_most(settings) * 3,
    );
    let analysis = crate::assistant::text_analysis(settings).map_err(|e| e.to_string())?;
    let moderation = ReviewModerationHandler::new(reviews, analysis.clone(), Arc::new(SystemClock));
    let summaries = crate::assistant::review_summary_refresh(settings, store, analysis);
    Ok(Arc::new(HandlerChain::new(vec![Arc::new(notifications), Arc::new(moderation), summaries])))
}

/// The longest one mail can take to send (the SMTP timeout), at least ten seconds.
fn one_send_at_most(settings: &Settings) -> chrono::Duration {
    chrono::Duration::milliseconds(i64::try_from(settings.mail.smtp_timeout_ms).unwrap_or(i64::MAX).max(10_000))
}

/// How the relay and the dispatcher take events, with the lease sized from the batch: a
/// dispatcher handles a batch `concurrency` events at a time, each as long as a send may
/// take, and its lease must outlast that (or another dispatcher takes the same events; the
/// handlers' claims keep that from sending twice, but it is wasted work).
pub(crate) fn outbox_settings(settings: &Settings) -> storefront_app::OutboxSettings {
    let mut outbox = settings.events.outbox();
    let waves = settings.events.batch.div_ceil(settings.events.concurrency.max(1));
    let batch_at_most = one_send_at_most(settings) * i32::try_from(waves).unwrap_or(i32::MAX);
    outbox.lease = outbox.lease.max(batch_at_most + chrono::Duration::seconds(10));
    outbox
}

/// What a round of a loop did, to tell whether to wait before the next.
pub trait Progress {
    fn is_idle(&self) -> bool;
    fn record(&self, metrics_prefix: &'static str);
}

impl Progress for usize {
    fn is_idle(&self) -> bool {
        *self == 0
    }

    fn record(&self, loop_name: &'static str) {
        metrics::counter!("events_published_total", "by" => loop_name).increment(*self as u64);
    }
}

impl Progress for HandlingReport {
    fn is_idle(&self) -> bool {
        HandlingReport::is_idle(self)
    }

    fn record(&self, loop_name: &'static str) {
        metrics::counter!("events_handled_total", "by" => loop_name).increment(self.handled as u64);
        metrics::counter!("events_failed_total", "by" => loop_name).increment(self.failed as u64);
        metrics::counter!("events_deferred_total", "by" => loop_name).increment(self.deferred as u64);
        metrics::counter!("events_dead_lettered_total", "by" => loop_name).increment(self.dead_lettered as u64);
    }
}

/// Background loops and the signal that stops them.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Default for Background {
    fn default() -> Self {
        Self { stop: watch::channel(false).0, tasks: Vec::new() }
    }
}

impl Background {
    /// Runs `round` again and again until stopped: at once after a round that did
    /// something, after `idle` otherwise, and after a growing pause (up to 30 s) while it
    /// fails (a database or Redis outage), so that nothing is lost and nothing spins.
    pub fn spawn<F, Fut, P>(&mut self, name: &'static str, idle: Duration, mut round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<P, AppError>> + Send,
        P: Progress,
    {
        let mut stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let mut failures: u32 = 0;
            while !*stop.borrow() {
                let pause = match round().await {
                    Ok(progress) => {
                        failures = 0;
                        progress.record(name);
                        if progress.is_idle() { idle } else { Duration::ZERO }
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(task = name, error = %e, failures, "background round failed; retrying");
                        (idle * 2u32.saturating_pow(failures.min(6))).min(Duration::from_secs(30))
                    }
                };
                if !pause.is_zero() {
                    // Woken early by the stop signal.
                    let _ = tokio::time::timeout(pause, stop.changed()).await;
                }
            }
            tracing::debug!(task = name, "stopped");
        }));
    }

    /// Runs `task` now and then every `every` until stopped; a failure is logged and the
    /// task runs again at the next tick.
    pub fn periodic<F, Fut>(&mut self, name: &'static str, every: Duration, mut task: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), AppError>> + Send,
    {
        self.gauge(every, move || {
            let run = task();
            async move {
                if let Err(e) = run.await {
                    tracing::warn!(task = name, error = %e, "periodic task failed; retrying at the next tick");
                }
            }
        });
    }

    /// Keeps a gauge up to date, every `every`, until stopped.
    pub fn gauge<F, Fut>(&mut self, every: Duration, mut sample: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let mut stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            while !*stop.borrow() {
                sample().await;
                let _ = tokio::time::timeout(every, stop.changed()).await;
            }
        }));
    }

    /// Tells every loop to stop after its round in hand, and waits for them (at most
    /// `grace`; a loop still running then is abandoned, and what it held is handed out
    /// again once its lease or idle time runs out).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(?grace, "background tasks did not stop in time");
        }
    }
}

/// How often the lag gauges are refreshed and (times 40) old outbox rows are purged.
const UPKEEP_EVERY: Duration = Duration::from_secs(15);

/// How often the backlog gauges (owed events, the oldest one's age) are refreshed.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// The outbox's upkeep wherever events leave it: the backlog gauges
/// (`events_outbox_backlog`, `events_outbox_oldest_owed_seconds`), and the purge of handled
/// events and of old records of handled ones past their retention.
pub(crate) fn spawn_outbox_upkeep(settings: &Settings, ports: &Ports, background: &mut Background) {
    let outbox = Arc::clone(&ports.outbox);
    background.gauge(BACKLOG_EVERY, move || {
        let outbox = Arc::clone(&outbox);
        async move {
            match outbox.backlog().await {
                Ok(backlog) => {
                    metrics::gauge!("events_outbox_backlog").set(backlog.owed as f64);
                    let age = backlog
                        .oldest_owed_at
                        .map_or(0.0, |at| (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
                    metrics::gauge!("events_outbox_oldest_owed_seconds").set(age);
                }
                Err(e) => tracing::debug!(error = %e, "cannot read the outbox backlog"),
            }
        }
    });
    let (outbox, processed) = (Arc::clone(&ports.outbox), Arc::clone(&ports.processed));
    let outbox_retention = chrono::Duration::seconds(settings.events.outbox_retention_secs);
    let processed_retention = chrono::Duration::seconds(settings.events.processed_retention_secs);
    background.periodic("outbox_purge", UPKEEP_EVERY * 40, move || {
        let (outbox, processed) = (Arc::clone(&outbox), Arc::clone(&processed));
        async move {
            let now = chrono::Utc::now();
            outbox.purge_handled(now - outbox_retention).await?;
            processed.purge_processed(now - processed_retention).await?;
            Ok(())
        }
    });
}

/// This worker's name in the consumer group: `events.consumer`, or `<hostname>-<pid>`.
pub fn consumer_name(settings: &Settings) -> String {
    let configured = settings.events.consumer.trim();
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The event stream on the configured Redis, on a connection of its own whose commands may
/// take `extra` longer than the configured timeout (a blocking read waits that long).
pub fn event_stream(settings: &Settings, url: &str, extra: Duration) -> Result<RedisEventStream, StartupError> {
    let redis = RedisSettings {
        url: url.to_owned(),
        cluster: settings.redis.cluster,
        key_prefix: settings.redis.key_prefix.clone(),
        timeout: Duration::from_millis(settings.redis.timeout_ms) + extra,
    };
    let connection = RedisConnection::new(redis).map_err(|e| StartupError::Config(e.to_string()))?;
    let names = StreamNames {
        stream: settings.events.stream.clone(),
        group: settings.events.group.clone(),
        consumer: consumer_name(settings),
    };
    Ok(RedisEventStream::new(connection, names))
}

/// Keeps `events_consumer_lag` and `events_consumer_pending` up to date.
fn spawn_lag_gauge(stream: RedisEventStream, background: &mut Background) {
    use storefront_app::ports::EventQueue;
    background.gauge(UPKEEP_EVERY, move || {
        let stream = stream.clone();
        async move {
            match stream.lag().await {
                Ok(lag) => {
                    metrics::gauge!("events_consumer_lag").set(lag.undelivered as f64);
                    metrics::gauge!("events_consumer_pending").set(lag.pending as f64);
                }
                Err(e) => tracing::debug!(error = %e, "cannot read the consumer group's lag"),
            }
        }
    });
}

/// What `serve` runs for events: with Redis, only the outbox's upkeep and the gauges (the
/// workers relay and handle); without, the in-process dispatcher too.
pub(crate) fn spawn_for_serve(
    settings: &Settings,
    store: &Store,
    background: &mut Background,
) -> Result<(), StartupError> {
    match &settings.redis.url {
        None if settings.events.dispatch_in_process => spawn_in_process_dispatch(settings, store, background),
        None => {
            tracing::warn!(
                "events are neither dispatched here (events.dispatch_in_process = false) nor streamed (no Redis)"
            );
            spawn_outbox_upkeep(settings, &store.ports(), background);
            Ok(())
        }
        Some(url) => {
            spawn_outbox_upkeep(settings, &store.ports(), background);
            spawn_lag_gauge(event_stream(settings, url, Duration::ZERO)?, background);
            Ok(())
        }
    }
}

/// `storefront worker`: relays the outbox to the stream and handles the stream's events as
/// one consumer of the group (with Redis), or handles the outbox in-process (without),
/// until SIGTERM/SIGINT; then finishes the event in hand and exits.
pub async fn run_worker(settings: Settings) -> Result<(), String> {
    if settings.database.url.is_none() {
        return Err(
            "`worker` needs PostgreSQL (the outbox is there): set DATABASE_URL or STOREFRONT__DATABASE__URL".into()
        );
    }
    let store = Store::from_settings(&settings).await.map_err(|e| format!("cannot open the database: {e}"))?;
    let mut background = Background::default();
    match &settings.redis.url {
        Some(url) => {
            let ports = store.ports();
            let clock = Arc::new(SystemClock);
            let handler = handlers(&settings, &store)?;
            let publisher = event_stream(&settings, url, Duration::ZERO).map_err(|e| e.to_string())?;
            let relay = Arc::new(Relay::new(
                Arc::clone(&ports.outbox),
                Arc::new(publisher.clone()),
                clock.clone(),
                outbox_settings(&settings),
            ));
            background.spawn("relay", settings.events.poll_interval(), move || {
                let relay = Arc::clone(&relay);
                async move { relay.run_once().await }
            });
            let wait = settings.events.poll_interval();
            let queue = event_stream(&settings, url, wait).map_err(|e| e.to_string())?;
            let worker = Arc::new(StreamWorker::new(
                Arc::new(queue.clone()),
                Arc::clone(&ports.outbox),
                handler,
                clock,
                settings.events.retry_policy(),
                WorkerSettings {
                    wait: chrono::Duration::milliseconds(settings.events.poll_interval_ms as i64),
                    claim_idle: chrono::Duration::milliseconds(settings.events.claim_idle_ms),
                    concurrency: settings.events.concurrency,
                },
            ));
            // Its reads already wait for new entries; no pause on top.
            background.spawn("stream_worker", Duration::from_millis(1), move || {
                let worker = Arc::clone(&worker);
                async move { worker.run_once().await }
            });
            spawn_lag_gauge(queue, &mut background);
            spawn_outbox_upkeep(&settings, &ports, &mut background);
            tracing::info!(consumer = %consumer_name(&settings), group = %settings.events.group, "worker relaying and handling events");
        }
        None => {
            spawn_in_process_dispatch(&settings, &store, &mut background).map_err(|e| e.to_string())?;
            tracing::info!("worker handling the outbox in-process (no Redis configured)");
        }
    }
    let metrics = serve_worker_metrics(&settings);
    let signal = shutdown_signal().await;
    tracing::info!(signal, "worker stopping: finishing the event in hand");
    background.stop(Duration::from_secs(settings.server.shutdown_timeout_secs)).await;
    if let Some(server) = metrics {
        server.stop(true).await;
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// `/metrics` and `/health` of the worker on `events.worker_metrics_port` (0: none). A port
/// that cannot be bound is logged, not fatal: events matter more than their metrics.
fn serve_worker_metrics(settings: &Settings) -> Option<actix_web::dev::ServerHandle> {
    let port = settings.events.worker_metrics_port;
    if port == 0 {
        return None;
    }
    let address = format!("{}:{port}", settings.server.host);
    let bound = actix_web::HttpServer::new(storefront_http::build_ops_app).workers(1).disable_signals().bind(&address);
    match bound {
        Ok(server) => {
            let server = server.run();
            let handle = server.handle();
            tokio::spawn(server);
            tracing::info!(%address, "worker metrics at /metrics");
            Some(handle)
        }
        Err(e) => {
            tracing::warn!(%address, error = %e, "cannot serve the worker's metrics");
            None
        }
    }
}

/// Handles the outbox's events in this process (no stream configured): the dispatcher, the
/// purge of handled events, and the backlog gauge.
pub fn spawn_in_process_dispatch(
    settings: &Settings,
    store: &Store,
    background: &mut Background,
) -> Result<(), StartupError> {
    let dispatcher = Arc::new(in_process_dispatcher(settings, store)?);
    background.spawn("in_process_dispatcher", settings.events.poll_interval(), move || {
        let dispatcher = Arc::clone(&dispatcher);
        async move { dispatcher.run_once().await }
    });
    spawn_outbox_upkeep(settings, &store.ports(), background);
    Ok(())
}

pub(crate) fn in_process_dispatcher(settings: &Settings, store: &Store) -> Result<OutboxDispatcher, StartupError> {
    let ports = store.ports();
    let handler = handlers(settings, store).map_err(StartupError::Mail)?;
    Ok(OutboxDispatcher::new(
        ports.outbox,
        handler,
        Arc::new(SystemClock),
        settings.events.retry_policy(),
        outbox_settings(settings),
    ))
}
