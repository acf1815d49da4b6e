//! The `Mailer` port's adapters: SMTP through lettre (plain SMTP for a local relay, STARTTLS
//! or implicit TLS for a real one, optional credentials), and a log mailer for development
//! that writes each mail as a log line instead of sending it.

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use storefront_app::ports::{Mail, MailError, Mailer};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a relay on the same host or a trusted network.
    None,
    /// Plain SMTP upgraded with STARTTLS (port 587), refusing to go on without it.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password, if the relay wants them.
    pub credentials: Option<(String, String)>,
    /// `Name <address>` of the sender.
    pub from: String,
    /// The longest one delivery may take.
    pub timeout: Duration,
    /// Connections kept open to the relay: as many as mails sent at once, so that a busy
    /// sender reuses its connections instead of opening and closing them.
    pub pool_size: u32,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log line.
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// Why the SMTP mailer cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error("mail.from `{0}` is not an address: {1}")]
    From(String, String),
    #[error("TLS for {0}: {1}")]
    Tls(String, String),
}

/// Sends mail to an SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Builds the transport; connections are opened when mail is sent (pooled).
    ///
    /// # Errors
    /// A `from` that is not an address, or TLS that cannot be set up for `host`.
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailSetupError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailSetupError::From(settings.from.clone(), e.to_string()))?;
        let tls = match settings.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls | SmtpSecurity::Tls => {
                let parameters = TlsParameters::new(settings.host.clone())
                    .map_err(|e| MailSetupError::Tls(settings.host.clone(), e.to_string()))?;
                if settings.security == SmtpSecurity::StartTls {
                    Tls::Required(parameters)
                } else {
                    Tls::Wrapper(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout))
            .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { transport: builder.build(), from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    #[tracing::instrument(level = "debug", skip_all, fields(subject = %mail.subject))]
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to = Mailbox::new(
            Some(mail.to_name.clone()),
            mail.to.parse().map_err(|e: lettre::address::AddressError| MailError(format!("recipient: {e}")))?,
        );
        let builder = Message::builder()
            .message_id(Some(format!("<{}@storefront>", mail.dedupe_key)))
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone());
        let message = match &mail.html {
            // multipart/alternative: clients show the HTML, or the text where HTML is off.
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(mail.body.clone(), html.clone())),
            None => builder.body(mail.body.clone()),
        }
        .map_err(|e| MailError(format!("message: {e}")))?;
        self.transport.send(message).await.map_err(|e| MailError(e.to_string()))?;
        tracing::info!(to = %mail.to, subject = %mail.subject, "mail sent");
        Ok(())
    }
}

/// Development: logs each mail instead of sending it: one line (recipient, subject) at
/// info, the body at debug, so that a demo's dozens of mails do not flood the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        tracing::info!(to = %mail.to, subject = %mail.subject, "mail logged, not sent (mail.backend = log)");
        tracing::debug!(to = %mail.to, subject = %mail.subject, body = %mail.body, "mail body");
        Ok(())
    }
}
