//! Rate limits: the policy (per client IP on each limited action, per account for failed
//! logins) over the `RateLimiter` port's fixed-window counters. If the counters cannot be
//! reached the request is let through with a warning and a metric (fail open): a broken
//! Redis must not stop a shop from taking logins.

use crate::AppError;
use crate::ports::{RateLimiter, WindowUsage};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The counter of requests refused by a limit, labelled by the limit's name.
pub const RATE_LIMIT_HITS_METRIC: &str = "rate_limit_hits_total";
/// The counter of limiter failures, each of which let a request through unchecked.
pub const RATE_LIMITER_ERRORS_METRIC: &str = "rate_limiter_errors_total";

/// How many hits one key may take in one fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: u64,
    pub window: Duration,
}

/// Which limits apply, and how high they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// Off: no limit is checked and the limiter is never called.
    pub enabled: bool,
    /// Requests from one client IP on one limited action (login, refresh, registration).
    pub per_ip: Quota,
    /// IPv6 clients are counted by this prefix of their address (a /64 is what one
    /// customer line gets, and rotating through it costs an attacker nothing); IPv4
    /// clients by their address. 0..=128.
    pub ipv6_prefix: u8,
    /// Failed logins of one account (by the email given); once reached, every login of it,
    /// even with the right password, is refused until the window ends.
    pub failed_logins: Quota,
    /// Verification mails one account may ask for (`POST /auth/email/verification`).
    pub verification_mails: Quota,
    /// Password-reset requests for one email address, whoever sends them.
    pub password_resets_per_email: Quota,
}

impl Default for RateLimitPolicy {
    /// 60 requests per IP (IPv6: per /64) and action per minute; 10 failed logins per
    /// account per 15 minutes; 3 verification mails per account and 5 password-reset
    /// requests per address per hour.
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip: Quota { max: 60, window: Duration::from_secs(60) },
            ipv6_prefix: Self::DEFAULT_IPV6_PREFIX,
            failed_logins: Quota { max: 10, window: Duration::from_secs(15 * 60) },
            verification_mails: Quota { max: 3, window: Duration::from_secs(3600) },
            password_resets_per_email: Quota { max: 5, window: Duration::from_secs(3600) },
        }
    }
}

impl RateLimitPolicy {
    pub const DEFAULT_IPV6_PREFIX: u8 = 64;
}

/// An action limited per client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAction {
    /// `POST /auth/login` and the token endpoint's password grant.
    Login,
    /// `POST /auth/refresh` and the token endpoint's refresh grant.
    Refresh,
    /// `POST /users`.
    Register,
    /// `POST /auth/password/forgot`.
    PasswordForgot,
}

impl ClientAction {
    /// The limit's name, as in metrics, logs and counter keys.
    pub const fn limit_name(self) -> &'static str {
        match self {
            ClientAction::Login => "login_per_ip",
            ClientAction::Refresh => "refresh_per_ip",
            ClientAction::Register => "register_per_ip",
            ClientAction::PasswordForgot => "password_forgot_per_ip",
        }
    }
}

/// The limit name of failed logins per account.
const FAILED_LOGINS: &str = "failed_logins_per_account";

/// The limit name of verification mails per account.
const VERIFICATION_MAILS: &str = "verification_mails_per_account";

/// The limit name of password-reset requests per email address.
const PASSWORD_RESETS: &str = "password_resets_per_email";

/// The longest account key kept (an email is at most 254 characters).
const MAX_ACCOUNT_KEY_CHARS: usize = 320;

/// The rate-limit policy applied over a limiter. Cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Option<Arc<dyn RateLimiter>>,
    policy: RateLimitPolicy,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl RateLimits {
    pub fn new(limiter: Arc<dyn RateLimiter>, policy: RateLimitPolicy) -> Self {
        Self { limiter: Some(limiter), policy }
    }

    /// No limits at all: what services built without `with_rate_limits` use.
    pub fn disabled() -> Self {
        Self { limiter: None, policy: RateLimitPolicy { enabled: false, ..RateLimitPolicy::default() } }
    }

    pub fn policy(&self) -> RateLimitPolicy {
        self.policy
    }

    fn limiter(&self) -> Option<&Arc<dyn RateLimiter>> {
        self.limiter.as_ref().filter(|_| self.policy.enabled)
    }

    /// Counts one request of `action` from `ip` (requests without a known address share
    /// one bucket).
    ///
    /// # Errors
    /// `RateLimited` once the IP is over its quota for this action in the current window.
    pub async fn admit(&self, action: ClientAction, ip: Option<&str>) -> Result<(), AppError> {
        let Some(limiter) = self.limiter() else { return Ok(()) };
        let name = action.limit_name();
        let key = ip_key(action, ip, self.policy.ipv6_prefix);
        let quota = self.policy.per_ip;
        match limiter.hit(&key, quota.window).await {
            Ok(usage) if usage.count > quota.max => {
                tracing::warn!(security_event = "rate_limited", limit = name, client_ip = ip, "rate limit hit");
                Err(refusal(name, usage))
            }
            Ok(_) => Ok(()),
            Err(error) => {
                fail_open(name, &error);
                Ok(())
            }
        }
    }

    /// Counts a login attempt against the account before its password is checked (so that
    /// a locked account costs no bcrypt work). Give it back with `forgive_login` when the
    /// password was right: only failures use the quota.
    ///
    /// # Errors
    /// `RateLimited` once the account's failed logins reached the quota in this window,
    /// whatever the password.
    pub async fn count_login_attempt(&self, account: &str) -> Result<(), AppError> {
        let Some(limiter) = self.limiter() else { return Ok(()) };
        let quota = self.policy.failed_logins;
        match limiter.hit(&account_key(account), quota.window).await {
            // The attempt that would be failure `max + 1` is refused.
            Ok(usage) if usage.count > quota.max => {
                // The email is not logged: people type passwords into the username field.
                tracing::warn!(security_event = "rate_limited", limit = FAILED_LOGINS, "rate limit hit");
                Err(refusal(FAILED_LOGINS, usage))
            }
            Ok(_) => Ok(()),
            Err(error) => {
                fail_open(FAILED_LOGINS, &error);
                Ok(())
            }
        }
    }

    /// Counts one request of the account `key` (a user id) against the limit `name`, with
    /// its own quota (the assistant's requests per user per minute).
    ///
    /// # Errors
    /// `RateLimited` once the account is over `quota` in the current window.
    pub async fn admit_account(&self, name: &'static str, key: &str, quota: Quota) -> Result<(), AppError> {
        let Some(limiter) = self.limiter() else { return Ok(()) };
        match limiter.hit(&format!("{name}:{key}"), quota.window).await {
            Ok(usage) if usage.count > quota.max => {
                tracing::warn!(security_event = "rate_limited", limit = name, account = key, "rate limit hit");
                Err(refusal(name, usage))
            }
            Ok(_) => Ok(()),
            Err(error) => {
                fail_open(name, &error);
                Ok(())
            }
        }
    }

    /// Gives back the request of `action` from `ip` counted by `admit`: for actions whose
    /// per-IP quota counts only failures (a password change's wrong current passwords).
    pub async fn forgive(&self, action: ClientAction, ip: Option<&str>) {
        let Some(limiter) = self.limiter() else { return };
        if let Err(error) = limiter.refund(&ip_key(action, ip, self.policy.ipv6_prefix)).await {
            fail_open(action.limit_name(), &error);
        }
    }

    /// Counts one verification mail asked for by the account `user_id`.
    ///
    /// # Errors
    /// `RateLimited` past the account's quota of verification mails in this window.
    pub async fn admit_verification_mail(&self, user_id: &str) -> Result<(), AppError> {
        let quota = self.policy.verification_mails;
        self.admit_key(VERIFICATION_MAILS, &format!("{VERIFICATION_MAILS}:{user_id}"), quota).await
    }

    /// Counts one password-reset request for `email` (normalised like an account key), so
    /// that nobody can flood one mailbox with reset mails from many addresses.
    ///
    /// # Errors
    /// `RateLimited` past the address's quota in this window (answered whether an account
    /// has the address or not).
    pub async fn admit_password_reset_for(&self, email: &str) -> Result<(), AppError> {
        let normalized: String = email.trim().to_lowercase().chars().take(MAX_ACCOUNT_KEY_CHARS).collect();
        let quota = self.policy.password_resets_per_email;
        self.admit_key(PASSWORD_RESETS, &format!("{PASSWORD_RESETS}:{normalized}"), quota).await
    }

    async fn admit_key(&self, name: &'static str, key: &str, quota: Quota) -> Result<(), AppError> {
        let Some(limiter) = self.limiter() else { return Ok(()) };
        match limiter.hit(key, quota.window).await {
            Ok(usage) if usage.count > quota.max => {
                tracing::warn!(security_event = "rate_limited", limit = name, "rate limit hit");
                Err(refusal(name, usage))
            }
            Ok(_) => Ok(()),
            Err(error) => {
                fail_open(name, &error);
                Ok(())
            }
        }
    }

    /// The login counted by `count_login_attempt` succeeded: it does not use the quota.
    pub async fn forgive_login(&self, account: &str) {
        let Some(limiter) = self.limiter() else { return };
        if let Err(error) = limiter.refund(&account_key(account)).await {
            fail_open(FAILED_LOGINS, &error);
        }
    }
}

/// The counter key of a client IP for an action: see [`client_bucket`].
fn ip_key(action: ClientAction, ip: Option<&str>, ipv6_prefix: u8) -> String {
    format!("{}:{}", action.limit_name(), client_bucket(ip, ipv6_prefix))
}

/// Who a per-IP limit counts: an IPv4 address (an IPv4-mapped IPv6 address included) as it
/// is, an IPv6 address by its first `ipv6_prefix` bits (`2001:db8:1:2::/64`), so that a
/// client cannot escape its quota by rotating through the addresses of its own prefix.
/// Requests without a known address share one bucket.
pub fn client_bucket(ip: Option<&str>, ipv6_prefix: u8) -> String {
    let Some(raw) = ip else { return "unknown".to_owned() };
    match raw.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => {
            let prefix = ipv6_prefix.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            let network = std::net::Ipv6Addr::from(u128::from(v6) & mask);
            format!("{network}/{prefix}")
        }
        // The HTTP edge hands over parsed addresses; anything else is kept as it came.
        Err(_) => raw.to_owned(),
    }
}

/// The counter key of an account: its email as typed, trimmed and lower-cased (what
/// `Email::parse` keeps), so that `Ada@…` and `ada@…` share one quota. Unknown and
/// malformed emails are counted too: a 429 must not reveal which accounts exist.
fn account_key(account: &str) -> String {
    let normalized: String = account.trim().to_lowercase().chars().take(MAX_ACCOUNT_KEY_CHARS).collect();
    format!("{FAILED_LOGINS}:{normalized}")
}

fn refusal(name: &'static str, usage: WindowUsage) -> AppError {
    metrics::counter!(RATE_LIMIT_HITS_METRIC, "limit" => name).increment(1);
    AppError::RateLimited { retry_after_secs: retry_after_secs(usage.resets_in) }
}

/// Whole seconds, rounded up, at least 1 (`Retry-After: 0` would invite a retry storm).
fn retry_after_secs(resets_in: Duration) -> u64 {
    let secs = resets_in.as_secs() + u64::from(resets_in.subsec_nanos() > 0);
    secs.max(1)
}

fn fail_open(name: &'static str, error: &crate::ports::RateLimitError) {
    metrics::counter!(RATE_LIMITER_ERRORS_METRIC, "limit" => name).increment(1);
    tracing::warn!(limit = name, %error, "rate limiter unavailable; the request is let through unchecked");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::RateLimitError;
    use async_trait::async_trait;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Counts without windows; enough to check the policy.
    #[derive(Default)]
    struct Counting(Mutex<HashMap<String, u64>>);

    #[async_trait]
    impl RateLimiter for Counting {
        async fn hit(&self, key: &str, window: Duration) -> Result<WindowUsage, RateLimitError> {
            let mut counts = self.0.lock().unwrap();
            let count = counts.entry(key.to_owned()).or_default();
            *count += 1;
            Ok(WindowUsage { count: *count, resets_in: window - Duration::from_millis(1500) })
        }

        async fn refund(&self, key: &str) -> Result<(), RateLimitError> {
            if let Some(count) = self.0.lock().unwrap().get_mut(key) {
                *count = count.saturating_sub(1);
            }
            Ok(())
        }
    }

    struct Broken;

    #[async_trait]
    impl RateLimiter for Broken {
        async fn hit(&self, _: &str, _: Duration) -> Result<WindowUsage, RateLimitError> {
            Err(RateLimitError::Unavailable("connection refused".into()))
        }

        async fn refund(&self, _: &str) -> Result<(), RateLimitError> {
            Err(RateLimitError::Unavailable("connection refused".into()))
        }
    }

    fn policy(per_ip: u64, failed_logins: u64) -> RateLimitPolicy {
        RateLimitPolicy {
            enabled: true,
            per_ip: Quota { max: per_ip, window: Duration::from_secs(60) },
            ipv6_prefix: 64,
            failed_logins: Quota { max: failed_logins, window: Duration::from_secs(900) },
            ..RateLimitPolicy::default()
        }
    }

    #[tokio::test]
    async fn an_ip_is_refused_past_its_quota_with_the_time_left_rounded_up() {
        let limits = RateLimits::new(Arc::new(Counting::default()), policy(2, 10));
        assert!(limits.admit(ClientAction::Login, Some("203.0.113.7")).await.is_ok());
        assert!(limits.admit(ClientAction::Login, Some("203.0.113.7")).await.is_ok());
        let refused = limits.admit(ClientAction::Login, Some("203.0.113.7")).await;
        // 60 s - 1.5 s = 58.5 s, rounded up.
        assert!(matches!(refused, Err(AppError::RateLimited { retry_after_secs: 59 })), "{refused:?}");
        // Other IPs and other actions have quotas of their own.
        assert!(limits.admit(ClientAction::Login, Some("203.0.113.8")).await.is_ok());
        assert!(limits.admit(ClientAction::Register, Some("203.0.113.7")).await.is_ok());
    }

    #[tokio::test]
    async fn forgiven_logins_do_not_use_the_account_quota_and_the_email_case_does_not_matter() {
        let limits = RateLimits::new(Arc::new(Counting::default()), policy(100, 2));
        for _ in 0..5 {
            limits.count_login_attempt("ada@example.com").await.unwrap();
            limits.forgive_login("ada@example.com").await;
        }
        limits.count_login_attempt(" Ada@Example.com").await.unwrap();
        limits.count_login_attempt("ada@example.com").await.unwrap();
        let locked = limits.count_login_attempt("ADA@example.com").await;
        assert!(matches!(locked, Err(AppError::RateLimited { .. })), "{locked:?}");
        assert!(limits.count_login_attempt("bob@example.com").await.is_ok());
    }

    #[tokio::test]
    async fn an_account_is_refused_past_its_own_quota() {
        let limits = RateLimits::new(Arc::new(Counting::default()), policy(100, 100));
        let quota = Quota { max: 2, window: Duration::from_secs(60) };
        assert!(limits.admit_account("ai_chat_per_user", "u1", quota).await.is_ok());
        assert!(limits.admit_account("ai_chat_per_user", "u1", quota).await.is_ok());
        let refused = limits.admit_account("ai_chat_per_user", "u1", quota).await;
        assert!(matches!(refused, Err(AppError::RateLimited { retry_after_secs: 59 })), "{refused:?}");
        assert!(limits.admit_account("ai_chat_per_user", "u2", quota).await.is_ok());
    }

    #[tokio::test]
    async fn disabled_limits_never_refuse() {
        let mut policy = policy(0, 0);
        policy.enabled = false;
        let limits = RateLimits::new(Arc::new(Counting::default()), policy);
        assert!(limits.admit(ClientAction::Refresh, None).await.is_ok());
        assert!(limits.count_login_attempt("ada@example.com").await.is_ok());
        assert!(RateLimits::disabled().admit(ClientAction::Login, None).await.is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_limiter_lets_requests_through() {
        let limits = RateLimits::new(Arc::new(Broken), policy(0, 0));
        assert!(limits.admit(ClientAction::Login, Some("203.0.113.7")).await.is_ok());
        assert!(limits.count_login_attempt("ada@example.com").await.is_ok());
        limits.forgive_login("ada@example.com").await;
    }

    #[test]
    fn ipv6_clients_are_counted_by_prefix_and_ipv4_clients_by_address() {
        let bucket = |ip: &str, prefix: u8| client_bucket(Some(ip), prefix);
        assert_eq!(bucket("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff:ffff:ffff:ffff", 64), "2001:db8:1:2::/64");
        assert_ne!(bucket("2001:db8:1:3::1", 64), bucket("2001:db8:1:2::1", 64));
        assert_eq!(bucket("2001:db8:1:2:aaaa::1", 48), "2001:db8:1::/48");
        assert_eq!(bucket("2001:db8::1", 128), "2001:db8::1/128");
        assert_eq!(bucket("2001:db8::1", 0), "::/0");
        assert_eq!(bucket("203.0.113.7", 64), "203.0.113.7");
        assert_ne!(bucket("203.0.113.7", 64), bucket("203.0.113.8", 64));
        assert_eq!(bucket("::ffff:203.0.113.7", 64), "203.0.113.7");
        assert_eq!(client_bucket(None, 64), "unknown");
    }

    #[tokio::test]
    async fn addresses_of_one_ipv6_prefix_share_a_quota() {
        let limits = RateLimits::new(Arc::new(Counting::default()), policy(2, 10));
        assert!(limits.admit(ClientAction::Login, Some("2001:db8:1:2::1")).await.is_ok());
        assert!(limits.admit(ClientAction::Login, Some("2001:db8:1:2::2")).await.is_ok());
        let refused = limits.admit(ClientAction::Login, Some("2001:db8:1:2:dead:beef:0:3")).await;
        assert!(matches!(refused, Err(AppError::RateLimited { .. })), "{refused:?}");
        assert!(limits.admit(ClientAction::Login, Some("2001:db8:1:3::1")).await.is_ok());
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(Duration::from_millis(30_001)), 31);
    }
}
