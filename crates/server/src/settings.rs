//! Layered configuration: embedded defaults, `config/{default,STOREFRONT_ENV}.toml`, then
//! `STOREFRONT__SECTION__KEY` environment variables (and `DATABASE_URL`).

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use std::path::PathBuf;
use storefront_domain::LowStockRule;

/// The deployment environment (`STOREFRONT_ENV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnv {
    Development,
    Test,
    Production,
}

impl RunEnv {
    pub fn from_env() -> Result<Self, SettingsError> {
        match std::env::var("STOREFRONT_ENV").ok().as_deref().map(str::trim) {
            None | Some("") | Some("development") => Ok(RunEnv::Development),
            Some("test") => Ok(RunEnv::Test),
            Some("production") => Ok(RunEnv::Production),
            Some(other) => Err(SettingsError::Invalid(format!(
                "STOREFRONT_ENV must be development, test or production, not `{other}`"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunEnv::Development => "development",
            RunEnv::Test => "test",
            RunEnv::Production => "production",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub rate_limit: RateLimitSettings,
    pub redis: RedisConfig,
    pub cors: CorsSettings,
    pub auth: AuthConfig,
    pub http: HttpSettings,
    pub catalog: CatalogSettings,
    pub orders: OrdersSettings,
    pub mail: MailSettings,
    pub events: EventsSettings,
    pub log: LogSettings,
    pub ai: AiConfig,
    pub public: PublicSettings,
    #[serde(skip, default = "default_env")]
    pub env: RunEnv,
    /// What loading found wrong but forgivable outside production (unknown keys), to be
    /// logged once logging is set up.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

fn default_env() -> RunEnv {
    RunEnv::Development
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub shutdown_timeout_secs: u64,
    pub workers: usize,
    /// Proxies (IPs or CIDR ranges) whose `X-Forwarded-For` names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: Option<String>,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    /// A pooled connection idle for longer (or whose last statement failed) is checked
    /// with `SELECT 1` before it is handed out; 0 checks every checkout.
    pub check_after_idle_ms: u64,
    pub migrate_on_start: bool,
}

/// Rate limits: per client IP on each limited action, per account for failed logins.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub per_ip_max: u64,
    pub per_ip_window_secs: u64,
    pub failed_logins_max: u64,
    pub failed_logins_window_secs: u64,
    /// IPv6 clients are counted by this prefix length (0..=128); IPv4 by address.
    pub ipv6_prefix: u8,
    pub verification_mails_max: u64,
    pub verification_mails_window_secs: u64,
    pub password_resets_per_email_max: u64,
    pub password_resets_per_email_window_secs: u64,
}

impl RateLimitSettings {
    pub fn policy(&self) -> storefront_app::RateLimitPolicy {
        use std::time::Duration;
        use storefront_app::Quota;
        storefront_app::RateLimitPolicy {
            enabled: self.enabled,
            per_ip: Quota { max: self.per_ip_max, window: Duration::from_secs(self.per_ip_window_secs) },
            ipv6_prefix: self.ipv6_prefix,
            failed_logins: Quota {
                max: self.failed_logins_max,
                window: Duration::from_secs(self.failed_logins_window_secs),
            },
            verification_mails: Quota {
                max: self.verification_mails_max,
                window: Duration::from_secs(self.verification_mails_window_secs),
            },
            password_resets_per_email: Quota {
                max: self.password_resets_per_email_max,
                window: Duration::from_secs(self.password_resets_per_email_window_secs),
            },
        }
    }
}

/// Redis, for rate-limit counters shared by every instance; absent: in-process counters.
#[derive(Clone, Deserialize)]
pub struct RedisConfig {
    pub url: Option<String>,
    /// `url` lists nodes of a Redis Cluster (comma-separated).
    pub cluster: bool,
    pub key_prefix: String,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Cross-origin callers.
#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_secs: usize,
}

impl CorsSettings {
    pub fn config(&self) -> storefront_http::CorsConfig {
        storefront_http::CorsConfig {
            allowed_origins: self
                .allowed_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            allow_credentials: self.allow_credentials,
            max_age_secs: self.max_age_secs,
        }
    }
}

#[derive(Clone, Deserialize)]
pub struct AuthConfig {
    pub jwt_secret: Option<String>,
    pub password_pepper: Option<String>,
    pub bcrypt_cost: u32,
    /// Password-hashing jobs that may wait for a hashing thread (one per core); past it,
    /// logins, registrations and password changes answer 503 at once.
    pub hashing_queue: usize,
    /// Active sessions one user may have; a login beyond it ends the oldest (at least 1).
    pub max_sessions_per_user: usize,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub refresh_reuse_grace_secs: i64,
    pub issuer: String,
    pub audience: String,
    /// Placing orders and writing reviews need a verified email address.
    pub require_verified_email: bool,
    pub password_reset_ttl_secs: i64,
    /// Verification and email-change links.
    pub email_link_ttl_secs: i64,
    /// The `mfa_token` between a login's password and its second factor.
    pub mfa_token_ttl_secs: i64,
}

/// Where the public front end lives (the links in mails point there).
#[derive(Debug, Clone, Deserialize)]
pub struct PublicSettings {
    pub app_url: String,
}

impl Settings {
    /// The account life cycle's settings.
    pub fn lifecycle(&self) -> storefront_app::LifecycleSettings {
        storefront_app::LifecycleSettings {
            app_url: self.public.app_url.clone(),
            require_verified_email: self.auth.require_verified_email,
            password_reset_ttl: chrono::Duration::seconds(self.auth.password_reset_ttl_secs),
            email_link_ttl: chrono::Duration::seconds(self.auth.email_link_ttl_secs),
            mfa_token_ttl: chrono::Duration::seconds(self.auth.mfa_token_ttl_secs),
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log line.
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("password_pepper", &self.password_pepper.as_ref().map(|_| "<redacted>"))
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("hashing_queue", &self.hashing_queue)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("access_ttl_secs", &self.access_ttl_secs)
            .field("refresh_ttl_secs", &self.refresh_ttl_secs)
            .field("refresh_reuse_grace_secs", &self.refresh_reuse_grace_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub json_limit_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogSettings {
    /// ISO 4217 code of every price; one per deployment.
    pub currency: String,
    /// Seed the demo catalogue into the in-memory store at start-up (development).
    pub seed_demo_on_memory: bool,
    /// Products at or below this stock are "low" (statistics, `product.stock_low`).
    pub low_stock_threshold: i64,
    /// At most one `product.stock_low` per product per this many seconds.
    pub low_stock_alert_window_secs: i64,
    /// `max-age` of anonymous catalogue reads (`Cache-Control: public, max-age=…`).
    pub cache_max_age_secs: u32,
}

impl CatalogSettings {
    /// When stock changes and placements raise `product.stock_low`.
    pub fn low_stock_rule(&self) -> LowStockRule {
        LowStockRule {
            threshold: self.low_stock_threshold,
            window: chrono::Duration::seconds(self.low_stock_alert_window_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrdersSettings {
    /// How long an idempotency key's first response is replayed.
    pub idempotency_retention_secs: i64,
    /// After how long a key whose first request never finished (a crashed server) may be
    /// used again; longer than any request can run.
    pub idempotency_abandon_after_secs: i64,
    /// How often keys past their retention are deleted.
    pub idempotency_purge_interval_secs: u64,
}

/// Where mail goes: `log` (development: a log line per mail) or `smtp`.
#[derive(Clone, Deserialize)]
pub struct MailSettings {
    pub backend: MailBackend,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `none` (plain SMTP, for a local relay), `starttls` or `tls`.
    pub smtp_security: SmtpSecurityName,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_timeout_ms: u64,
    /// The sender, `Name <address>`.
    pub from: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP password never reaches a log line.
        f.debug_struct("MailSettings")
            .field("backend", &self.backend)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_security", &self.smtp_security)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailBackend {
    Log,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurityName {
    None,
    Starttls,
    Tls,
}

/// Event processing: the outbox relay, the in-process dispatcher, the stream worker.
#[derive(Debug, Clone, Deserialize)]
pub struct EventsSettings {
    /// Without Redis, `serve` handles the outbox's events itself.
    pub dispatch_in_process: bool,
    /// Events taken from the outbox at once.
    pub batch: usize,
    /// How long taken events are reserved to their relay or dispatcher.
    pub lease_secs: i64,
    /// A published event not handled this long after is published again (the stream may
    /// have lost it); longer than the longest backlog the workers should drain.
    pub redeliver_after_secs: i64,
    /// Events a worker or the in-process dispatcher handles at once.
    pub concurrency: usize,
    /// How long an idle relay, dispatcher or worker waits before looking again.
    pub poll_interval_ms: u64,
    /// Tries in all before an event is dead-lettered.
    pub max_attempts: u32,
    /// The wait after a first failure; doubles with each further one, up to `retry_max_ms`.
    pub retry_base_ms: i64,
    pub retry_max_ms: i64,
    /// How long another worker's entry must be left unacknowledged before it is taken over.
    pub claim_idle_ms: i64,
    /// The event stream, under the Redis key prefix.
    pub stream: String,
    /// The consumer group every worker joins.
    pub group: String,
    /// This worker's name in the group; empty: `<hostname>-<pid>`.
    pub consumer: String,
    /// Published events are deleted from the outbox after this long.
    pub outbox_retention_secs: i64,
    /// Records of handled events are kept this long (far longer than any redelivery).
    pub processed_retention_secs: i64,
    /// `storefront worker` serves `/metrics` and `/health` on this port (0: not at all).
    pub worker_metrics_port: u16,
}

impl EventsSettings {
    pub fn retry_policy(&self) -> storefront_app::RetryPolicy {
        storefront_app::RetryPolicy {
            max_attempts: self.max_attempts,
            base_backoff: chrono::Duration::milliseconds(self.retry_base_ms),
            max_backoff: chrono::Duration::milliseconds(self.retry_max_ms),
        }
    }

    pub fn outbox(&self) -> storefront_app::OutboxSettings {
        storefront_app::OutboxSettings {
            batch: self.batch,
            lease: chrono::Duration::seconds(self.lease_secs),
            redeliver_after: chrono::Duration::seconds(self.redeliver_after_secs),
            concurrency: self.concurrency,
        }
    }

    pub fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.poll_interval_ms)
    }
}

/// Which provider answers the assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AiProviderName {
    /// Offline and deterministic: answers from the catalogue search.
    Builtin,
    /// Any OpenAI-compatible Chat Completions API at `ai.base_url`.
    Openai,
}

/// How the `openai` provider asks for JSON that fits a schema (`ai.structured_output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutputName {
    /// `response_format: {"type": "json_schema", …}` (OpenAI, Gemini, vLLM, Ollama, llama.cpp).
    JsonSchema,
    /// `response_format: {"type": "json_object", "schema": …}` (llama-cpp-python).
    JsonObjectSchema,
    /// `response_format: {"type": "json_object"}`.
    JsonObject,
    /// No `response_format`.
    Off,
}

/// The assistant (`ai.*`): its provider and the per-user limits.
#[derive(Clone, Deserialize)]
pub struct AiConfig {
    pub provider: AiProviderName,
    /// The OpenAI-compatible API, up to its version (`https://api.openai.com/v1`).
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub model: Option<String>,
    /// Per upstream request, streamed reply included.
    pub timeout_secs: u64,
    pub requests_per_minute: u64,
    pub daily_token_budget: u64,
    /// Tokens of history a prompt may carry.
    pub history_token_budget: usize,
    /// The longest reply, in tokens.
    pub max_tokens: u32,
    /// The builtin provider's pause before each word (0: none), to show streaming.
    pub builtin_word_delay_ms: u64,
    /// How the `openai` provider asks for answers that fit a JSON Schema.
    pub structured_output: StructuredOutputName,
    /// What tokens cost per provider and model, for the usage report (`[[ai.prices]]`).
    #[serde(default)]
    pub prices: Vec<AiPrice>,
}

/// One line of the price table: US dollars per million tokens of one provider and model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiPrice {
    pub provider: String,
    pub model: String,
    pub prompt_per_million: f64,
    pub completion_per_million: f64,
}

impl std::fmt::Debug for AiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The provider's key never reaches a log line.
        f.debug_struct("AiConfig")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout_secs", &self.timeout_secs)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("daily_token_budget", &self.daily_token_budget)
            .field("history_token_budget", &self.history_token_budget)
            .field("max_tokens", &self.max_tokens)
            .field("builtin_word_delay_ms", &self.builtin_word_delay_ms)
            .field("structured_output", &self.structured_output)
            .field("prices", &self.prices)
            .finish()
    }
}

impl AiConfig {
    fn validate(&self) -> Result<(), SettingsError> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if self.provider == AiProviderName::Openai && (blank(&self.base_url) || blank(&self.model)) {
            return Err(SettingsError::Invalid(
                "ai.provider = openai needs STOREFRONT__AI__BASE_URL and STOREFRONT__AI__MODEL".into(),
            ));
        }
        if self.timeout_secs == 0 || self.requests_per_minute == 0 || self.max_tokens == 0 {
            return Err(SettingsError::Invalid(
                "ai.timeout_secs, ai.requests_per_minute and ai.max_tokens must be at least 1".into(),
            ));
        }
        let priced = |p: f64| p.is_finite() && p >= 0.0;
        if let Some(bad) =
            self.prices.iter().find(|p| !priced(p.prompt_per_million) || !priced(p.completion_per_million))
        {
            return Err(SettingsError::Invalid(format!(
                "ai.prices: the prices of {}/{} must be finite and not negative",
                bad.provider, bad.model
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

const EMBEDDED_DEFAULT: &str = include_str!("../../../config/default.toml");
const EMBEDDED_TEST: &str = include_str!("../../../config/test.toml");
const EMBEDDED_DEVELOPMENT: &str = include_str!("../../../config/development.toml");
const EMBEDDED_PRODUCTION: &str = include_str!("../../../config/production.toml");

/// Keys that have no default, hence are missing from `config/default.toml`: with its keys,
/// every key there is. A key added to `Settings` without a default belongs here.
const KEYS_WITHOUT_DEFAULT: [&str; 9] = [
    "database.url",
    "redis.url",
    "auth.jwt_secret",
    "auth.password_pepper",
    "mail.smtp_username",
    "mail.smtp_password",
    "ai.base_url",
    "ai.api_key",
    "ai.model",
];

/// The development pepper; production refuses to start without its own.
const DEV_PEPPER: &str = "storefront-development-pepper-not-for-production";

impl Settings {
    /// Loads the configuration of the environment named by `STOREFRONT_ENV`.
    pub fn load() -> Result<Self, SettingsError> {
        Self::load_for(RunEnv::from_env()?)
    }

    /// Loads the layers for `env`. The files compiled into the binary come first so that
    /// it runs from any directory; files in `STOREFRONT_CONFIG_DIR` (default `./config`)
    /// override them, and the environment overrides both.
    pub fn load_for(env: RunEnv) -> Result<Self, SettingsError> {
        let embedded_env = match env {
            RunEnv::Development => EMBEDDED_DEVELOPMENT,
            RunEnv::Test => EMBEDDED_TEST,
            RunEnv::Production => EMBEDDED_PRODUCTION,
        };
        let dir =
            std::env::var_os("STOREFRONT_CONFIG_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("config"));
        let config = Config::builder()
            .add_source(File::from_str(EMBEDDED_DEFAULT, FileFormat::Toml))
            .add_source(File::from_str(embedded_env, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(false))
            .add_source(File::from(dir.join(format!("{}.toml", env.as_str()))).required(false))
            .add_source(
                Environment::with_prefix("STOREFRONT")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // Comma-separated lists; every other value stays a single string.
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("cors.allowed_origins"),
            )
            .build()?;
        let unknown = unknown_keys(&config)?;
        if env == RunEnv::Production && !unknown.is_empty() {
            return Err(SettingsError::Invalid(unknown.join("; ")));
        }
        let mut settings: Settings = config.try_deserialize()?;
        settings.env = env;
        settings.warnings = unknown;
        if std::env::var("STOREFRONT__DATABASE__URL").is_err()
            && let Ok(url) = std::env::var("DATABASE_URL")
        {
            settings.database.url = Some(url);
        }
        settings.database.url = settings.database.url.filter(|u| !u.trim().is_empty());
        settings.redis.url = settings.redis.url.filter(|u| !u.trim().is_empty());
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses configurations that would be unsafe or cannot work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.validate_operations()?;
        self.ai.validate()?;
        match (&self.auth.jwt_secret, self.env) {
            (Some(secret), _) if secret.len() < 32 => {
                return Err(SettingsError::Invalid("auth.jwt_secret must be at least 32 bytes".into()));
            }
            (None, RunEnv::Production) => {
                return Err(SettingsError::Invalid(
                    "STOREFRONT__AUTH__JWT_SECRET (>= 32 bytes) is required in production".into(),
                ));
            }
            _ => {}
        }
        if self.env == RunEnv::Production && self.auth.password_pepper.as_deref().is_none_or(str::is_empty) {
            return Err(SettingsError::Invalid("STOREFRONT__AUTH__PASSWORD_PEPPER is required in production".into()));
        }
        if self.auth.max_sessions_per_user == 0 {
            return Err(SettingsError::Invalid("auth.max_sessions_per_user must be at least 1".into()));
        }
        if self.rate_limit.ipv6_prefix > 128 {
            return Err(SettingsError::Invalid("rate_limit.ipv6_prefix must be within 0..=128".into()));
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            return Err(SettingsError::Invalid("auth.bcrypt_cost must be within 4..=31".into()));
        }
        if self.auth.access_ttl_secs <= 0 || self.auth.refresh_ttl_secs <= 0 || self.auth.refresh_reuse_grace_secs < 0 {
            return Err(SettingsError::Invalid("token lifetimes must be positive".into()));
        }
        // Up to about ten years: a valid chrono::Duration.
        let link_ttls =
            [self.auth.password_reset_ttl_secs, self.auth.email_link_ttl_secs, self.auth.mfa_token_ttl_secs];
        if link_ttls.iter().any(|ttl| !(1..=315_360_000).contains(ttl)) {
            return Err(SettingsError::Invalid(
                "auth.password_reset_ttl_secs, email_link_ttl_secs and mfa_token_ttl_secs must be within 1..=315360000"
                    .into(),
            ));
        }
        let app_url = self.public.app_url.trim();
        if !(app_url.starts_with("http://") || app_url.starts_with("https://")) || app_url.contains(['?', '#', ' ']) {
            return Err(SettingsError::Invalid(
                "public.app_url must be an http(s) URL without query or fragment, e.g. https://shop.example.com".into(),
            ));
        }
        let currency = &self.catalog.currency;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(SettingsError::Invalid("catalog.currency must be an ISO 4217 code such as USD".into()));
        }
        if self.catalog.low_stock_threshold < 0 {
            return Err(SettingsError::Invalid("catalog.low_stock_threshold must be >= 0".into()));
        }
        // A window of zero or less would alert on every crossing: the flood it is there to stop.
        // The upper bound keeps it a valid chrono::Duration (about ten years).
        if !(1..=315_360_000).contains(&self.catalog.low_stock_alert_window_secs) {
            return Err(SettingsError::Invalid(
                "catalog.low_stock_alert_window_secs must be within 1..=315360000".into(),
            ));
        }
        let orders = &self.orders;
        if orders.idempotency_retention_secs <= 0
            || orders.idempotency_abandon_after_secs <= 0
            || orders.idempotency_purge_interval_secs == 0
        {
            return Err(SettingsError::Invalid("orders.idempotency_* durations must be positive".into()));
        }
        let events = &self.events;
        if events.batch == 0
            || events.concurrency == 0
            || events.lease_secs <= 0
            || events.redeliver_after_secs <= 0
            || events.poll_interval_ms == 0
            || events.max_attempts == 0
            || events.retry_base_ms <= 0
            || events.retry_max_ms < events.retry_base_ms
            || events.claim_idle_ms <= 0
            || events.outbox_retention_secs <= 0
            || events.processed_retention_secs <= 0
        {
            return Err(SettingsError::Invalid(
                "events: batch, concurrency, durations and max_attempts must be positive, retry_max_ms >= retry_base_ms".into(),
            ));
        }
        if self.mail.from.trim().is_empty() || self.mail.smtp_host.trim().is_empty() {
            return Err(SettingsError::Invalid("mail.from and mail.smtp_host must not be empty".into()));
        }
        if self.http.json_limit_bytes == 0 {
            return Err(SettingsError::Invalid("http.json_limit_bytes must be positive".into()));
        }
        Ok(())
    }

    /// Rate limits, Redis, proxies and CORS.
    fn validate_operations(&self) -> Result<(), SettingsError> {
        let limits = &self.rate_limit;
        if [limits.per_ip_max, limits.per_ip_window_secs, limits.failed_logins_max, limits.failed_logins_window_secs]
            .contains(&0)
        {
            return Err(SettingsError::Invalid(
                "rate_limit maxima and windows must be positive (switch limits off with rate_limit.enabled = false)"
                    .into(),
            ));
        }
        if self.redis.timeout_ms == 0 {
            return Err(SettingsError::Invalid("redis.timeout_ms must be positive".into()));
        }
        if self.redis.cluster && self.redis.url.is_none() {
            return Err(SettingsError::Invalid(
                "redis.cluster = true needs redis.url: the URLs of some of the cluster's nodes, comma-separated".into(),
            ));
        }
        storefront_http::TrustedProxies::parse(&self.server.trusted_proxies)
            .map_err(|why| SettingsError::Invalid(format!("server.trusted_proxies: {why}")))?;
        self.cors.config().validate().map_err(SettingsError::Invalid)?;
        Ok(())
    }

    /// The JWT key: the configured one, or (outside production) random per process.
    pub fn jwt_secret(&self) -> Vec<u8> {
        match &self.auth.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                let mut bytes = vec![0u8; 32];
                rand::fill(&mut bytes[..]);
                bytes
            }
        }
    }

    /// The password pepper: the configured one, or (outside production) a fixed dev value
    /// so that accounts survive restarts in development.
    pub fn password_pepper(&self) -> Vec<u8> {
        self.auth.password_pepper.clone().unwrap_or_else(|| DEV_PEPPER.to_owned()).into_bytes()
    }
}

/// Every configuration key, dotted (`server.port`).
fn known_keys() -> Result<Vec<String>, SettingsError> {
    let defaults = Config::builder().add_source(File::from_str(EMBEDDED_DEFAULT, FileFormat::Toml)).build()?;
    let mut keys = Vec::new();
    flatten("", defaults.try_deserialize::<config::Map<String, config::Value>>()?, &mut keys);
    keys.extend(KEYS_WITHOUT_DEFAULT.iter().map(|key| (*key).to_owned()));
    Ok(keys)
}

/// The dotted keys of the leaves of `table` (a list is a leaf: no key has a table inside).
fn flatten(prefix: &str, table: config::Map<String, config::Value>, into: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
        match value.kind {
            config::ValueKind::Table(inner) => flatten(&path, inner, into),
            _ => into.push(path),
        }
    }
}

/// One message per key of the loaded configuration that no setting reads (serde would
/// silently drop it), naming the environment variable it came from and the closest key.
fn unknown_keys(config: &Config) -> Result<Vec<String>, SettingsError> {
    let known = known_keys()?;
    let mut loaded = Vec::new();
    flatten("", config.clone().try_deserialize::<config::Map<String, config::Value>>()?, &mut loaded);
    let mut messages: Vec<String> = loaded
        .into_iter()
        .filter(|key| !known.contains(key))
        .map(|key| {
            let variable = format!("STOREFRONT__{}", key.replace('.', "__").to_uppercase());
            let origin = if std::env::var_os(&variable).is_some() {
                format!("the environment variable {variable}")
            } else {
                format!("the key `{key}` of a configuration file")
            };
            match closest(&key, &known) {
                Some(near) => format!("{origin} is not a setting; did you mean {near}?"),
                None => format!("{origin} is not a setting (docs/configuration.md lists them)"),
            }
        })
        .collect();
    messages.sort();
    Ok(messages)
}

/// The known key nearest to `key`, if it is near enough to be a typo of it.
fn closest<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    let (distance, near) = known.iter().map(|k| (edit_distance(key, k), k.as_str())).min()?;
    // A third of the key's length, at least two edits: `prot` → `port` is two.
    (distance <= (key.chars().count() / 3).max(2)).then_some(near)
}

/// Levenshtein distance (insertions, deletions, substitutions), over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("port", "port"), 0);
        assert_eq!(edit_distance("prot", "port"), 2);
        assert_eq!(edit_distance("sever", "server"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn a_misspelt_key_gets_the_closest_known_one_and_a_stranger_none() {
        let known = known_keys().unwrap();
        assert_eq!(closest("server.prot", &known), Some("server.port"));
        assert_eq!(closest("sever.port", &known), Some("server.port"));
        assert_eq!(closest("database.ulr", &known), Some("database.url"));
        assert_eq!(closest("something.else.entirely", &known), None);
    }

    #[test]
    fn a_redis_cluster_without_node_urls_is_refused() {
        let mut settings = Settings::load_for(RunEnv::Test).unwrap();
        settings.redis.cluster = true;
        settings.redis.url = None;
        let refused = settings.validate_operations().unwrap_err().to_string();
        assert!(refused.contains("redis.cluster") && refused.contains("redis.url"), "{refused}");
        settings.redis.url = Some("redis://10.0.0.5:6379,redis://10.0.0.6:6379".into());
        assert!(settings.validate_operations().is_ok());
    }

    #[test]
    fn the_embedded_files_use_known_keys_only() {
        for file in [EMBEDDED_DEFAULT, EMBEDDED_DEVELOPMENT, EMBEDDED_TEST, EMBEDDED_PRODUCTION] {
            let config = Config::builder().add_source(File::from_str(file, FileFormat::Toml)).build().unwrap();
            assert_eq!(unknown_keys(&config).unwrap(), Vec::<String>::new());
        }
    }

    #[test]
    fn unknown_keys_of_a_file_are_named() {
        let config = Config::builder()
            .add_source(File::from_str(EMBEDDED_DEFAULT, FileFormat::Toml))
            .add_source(File::from_str("[server]\nprot = 9000\n[nosuch]\nthing = 1\n", FileFormat::Toml))
            .build()
            .unwrap();
        let unknown = unknown_keys(&config).unwrap();
        assert_eq!(unknown.len(), 2, "{unknown:?}");
        assert!(unknown[0].contains("`nosuch.thing`") && unknown[0].contains("docs/configuration.md"), "{unknown:?}");
        assert!(
            unknown[1].contains("`server.prot`") && unknown[1].contains("did you mean server.port?"),
            "{unknown:?}"
        );
    }

    #[test]
    fn the_price_table_is_read_from_a_file_and_a_negative_price_refused() {
        let prices = "[[ai.prices]]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n\
                      prompt_per_million = 0.15\ncompletion_per_million = 0.6\n";
        let config = Config::builder()
            .add_source(File::from_str(EMBEDDED_DEFAULT, FileFormat::Toml))
            .add_source(File::from_str(prices, FileFormat::Toml))
            .build()
            .unwrap();
        assert_eq!(unknown_keys(&config).unwrap(), Vec::<String>::new());
        let mut settings: Settings = config.try_deserialize().unwrap();
        assert_eq!(
            settings.ai.prices,
            vec![AiPrice {
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                prompt_per_million: 0.15,
                completion_per_million: 0.6
            }]
        );
        assert!(settings.ai.validate().is_ok());
        settings.ai.prices[0].completion_per_million = -1.0;
        let refused = settings.ai.validate().unwrap_err().to_string();
        assert!(refused.contains("ai.prices") && refused.contains("openai/gpt-4o-mini"), "{refused}");

        let misspelt = Config::builder()
            .add_source(File::from_str(EMBEDDED_DEFAULT, FileFormat::Toml))
            .add_source(File::from_str(
                "[[ai.prices]]\nprovider = \"x\"\nmodel = \"y\"\nprompt = 1.0\n",
                FileFormat::Toml,
            ))
            .build()
            .unwrap();
        assert!(misspelt.try_deserialize::<Settings>().is_err(), "a line with a misspelt price is refused");
    }
}
