//! Event processing in the binary: the mailer configuration chooses, the notification
//! handlers over the store, and the background loops — the in-process dispatcher, the relay
//! to the stream, the stream worker and the outbox purge — each running until told to stop,
//! finishing the round in hand first, and counting what they do in metrics.

use crate::application::Ports;
use crate::settings::{MailBackend, MailSettings, Settings, SmtpSecurityName};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use storefront_app::ports::{Mailer, ProcessedEvents, SystemClock, UserRepository};
use storefront_app::{AppError, EventHandler, HandlingReport, Notifications};
use storefront_mail::{LogMailer, SmtpMailer, SmtpSecurity, SmtpSettings};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The mailer `mail.backend` names.
///
/// # Errors
/// An SMTP configuration that cannot work (a sender that is not an address, TLS that
/// cannot be set up).
pub fn mailer(settings: &MailSettings) -> Result<Arc<dyn Mailer>, String> {
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
            };
            Ok(Arc::new(SmtpMailer::new(&smtp).map_err(|e| e.to_string())?))
        }
    }
}

/// The handlers of every event: the notification mails.
pub fn handlers(
    settings: &Settings,
    users: Arc<dyn UserRepository>,
    processed: Arc<dyn ProcessedEvents>,
) -> Result<Arc<dyn EventHandler>, String> {
    let mailer = mailer(&settings.mail)?;
    Ok(Arc::new(Notifications::new(users, mailer, processed, Arc::new(SystemClock), settings.catalog.currency.clone())))
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

/// How often the backlog gauge is refreshed and old outbox rows are purged.
const UPKEEP_EVERY: Duration = Duration::from_secs(15);

/// The outbox's upkeep wherever events leave it: the backlog gauge
/// (`events_outbox_backlog`), and the purge of published events and of old records of
/// handled ones past their retention.
pub(crate) fn spawn_outbox_upkeep(settings: &Settings, ports: &Ports, background: &mut Background) {
    let outbox = Arc::clone(&ports.outbox);
    background.gauge(UPKEEP_EVERY, move || {
        let outbox = Arc::clone(&outbox);
        async move {
            match outbox.backlog().await {
                Ok(backlog) => metrics::gauge!("events_outbox_backlog").set(backlog as f64),
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
            outbox.purge_published(now - outbox_retention).await?;
            processed.purge_processed(now - processed_retention).await?;
            Ok(())
        }
    });
}
