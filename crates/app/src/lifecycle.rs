//! The account life cycle: proving an email address, resetting a forgotten password and
//! changing the address, each through a single-use link mailed by the event handlers
//! (`events::Notifications`), and the rule that some actions need a verified address.

use crate::client::ClientContext;
use crate::credentials::CurrentPassword;
use crate::ports::{
    Clock, EmailChangeOutcome, LinkPurpose, LinkTokenRepository, PasswordHasher, RefreshTokenMint, UserRepository,
};
use crate::rate_limit::{ClientAction, RateLimits};
use crate::{AppError, Principal};
use chrono::Duration;
use std::sync::Arc;
use storefront_domain::{DomainEvent, Email, NewPassword, PlainPassword, User};

/// How the life cycle's links behave.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    /// The front end's base URL: mails link to `{app_url}/verify-email?token=…` and so on.
    pub app_url: String,
    /// Placing orders and writing reviews need a verified email.
    pub require_verified_email: bool,
    pub password_reset_ttl: Duration,
    /// Verification and email-change links.
    pub email_link_ttl: Duration,
    /// The `mfa_token` between a login's password and its second factor.
    pub mfa_token_ttl: Duration,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            app_url: "http://127.0.0.1:8080".into(),
            require_verified_email: false,
            password_reset_ttl: Duration::minutes(30),
            email_link_ttl: Duration::hours(24),
            mfa_token_ttl: Duration::minutes(5),
        }
    }
}

impl LifecycleSettings {
    /// The front-end link carrying `token` for `purpose` (the front end posts it back).
    pub fn link(&self, purpose: LinkPurpose, token: &str) -> String {
        let page = match purpose {
            LinkPurpose::VerifyEmail => "verify-email",
            LinkPurpose::ResetPassword => "reset-password",
            LinkPurpose::ChangeEmail => "confirm-email-change",
            LinkPurpose::MfaLogin => "login",
        };
        format!("{}/{page}?token={token}", self.app_url.trim_end_matches('/'))
    }

    /// How long a link of `purpose` works.
    pub fn ttl(&self, purpose: LinkPurpose) -> Duration {
        match purpose {
            LinkPurpose::ResetPassword => self.password_reset_ttl,
            LinkPurpose::VerifyEmail | LinkPurpose::ChangeEmail => self.email_link_ttl,
            LinkPurpose::MfaLogin => self.mfa_token_ttl,
        }
    }
}

/// Whether an action needs a verified email address (`auth.require_verified_email`).
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifiedEmailRule {
    pub required: bool,
}

impl VerifiedEmailRule {
    /// # Errors
    /// `EmailNotVerified` when the rule is on and the caller's address is not verified.
    pub fn check(&self, principal: &Principal) -> Result<(), AppError> {
        if self.required && !principal.user.email_verified { Err(AppError::EmailNotVerified) } else { Ok(()) }
    }
}

#[derive(Clone)]
pub struct AccountLifecycleService {
    users: Arc<dyn UserRepository>,
    links: Arc<dyn LinkTokenRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn RefreshTokenMint>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
}

impl AccountLifecycleService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        links: Arc<dyn LinkTokenRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn RefreshTokenMint>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { users, links, hasher, tokens, clock, limits: RateLimits::disabled() }
    }

    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    fn current_password(&self) -> CurrentPassword {
        CurrentPassword { users: self.users.clone(), hasher: self.hasher.clone(), limits: self.limits.clone() }
    }

    /// Asks for another verification mail to the caller's address (at most a few per hour).
    ///
    /// # Errors
    /// `Conflict` when the address is verified already; `RateLimited` past the quota.
    pub async fn request_verification(&self, principal: &Principal) -> Result<(), AppError> {
        if principal.user.email_verified {
            return Err(AppError::Conflict("The email address is already verified.".into()));
        }
        self.limits.admit_verification_mail(&principal.user.id.to_string()).await?;
        let event = DomainEvent::verification_requested(&principal.user, self.clock.now());
        Ok(self.links.raise(vec![event]).await?)
    }

    /// Spends a verification link: the address it was sent to is verified. A link to an
    /// address the account no longer has is spent and proves nothing (`InvalidLink`).
    pub async fn verify_email(&self, token: &str) -> Result<User, AppError> {
        let hash = self.tokens.hash(token);
        self.links.verify_email(&hash, self.clock.now()).await?.ok_or(AppError::InvalidLink)
    }

    /// Asks for a password-reset link. Every well-formed address takes the same path — one
    /// outbox write, no lookup, no hashing — so the answer and its time say nothing about
    /// whether an account has it; the mail handler decides whether a mail goes out.
    ///
    /// # Errors
    /// `RateLimited` past the client IP's or the address's quota; `Validation` for a
    /// malformed address.
    pub async fn forgot_password(&self, email: &str, client: &ClientContext) -> Result<(), AppError> {
        self.limits.admit(ClientAction::PasswordForgot, client.ip.as_deref()).await?;
        self.limits.admit_password_reset_for(email).await?;
        let email = Email::parse(email).map_err(|e| AppError::Validation(vec![e.at("email")]))?;
        let event = DomainEvent::password_reset_requested(&email, self.clock.now());
        Ok(self.links.raise(vec![event]).await?)
    }

    /// Sets a new password through a reset link: the policy as at registration, then every
    /// session ends, the address counts as verified (the link proved it), and a notice is
    /// mailed.
    pub async fn reset_password(&self, token: &str, new_password: &PlainPassword) -> Result<(), AppError> {
        let hash = self.tokens.hash(token);
        let link = self
            .links
            .find_link(&hash, LinkPurpose::ResetPassword, self.clock.now())
            .await?
            .ok_or(AppError::InvalidLink)?;
        // A deactivated account's link sets nothing (it could not log in anyway).
        let user = self.users.find_by_id(link.user_id).await?.filter(|u| u.is_active).ok_or(AppError::InvalidLink)?;
        let new = NewPassword::parse(new_password.expose(), &user.email)
            .map_err(|e| AppError::Validation(vec![e.at("new_password")]))?;
        let password_hash = self.hasher.hash(new.as_plain()).await?;
        if self.links.reset_password(&hash, user.id, password_hash, self.clock.now()).await? {
            tracing::info!(security_event = "password_reset", user_id = %user.id, "password reset through a link");
            Ok(())
        } else {
            // Spent by a concurrent reset, or expired, in between.
            Err(AppError::InvalidLink)
        }
    }

    /// Asks to move the caller to `new_email`: after the current password, a confirmation
    /// link goes to the new address and a notice to the current one.
    ///
    /// # Errors
    /// `Validation` for a malformed or unchanged address, `InvalidCredentials` (counted as
    /// a failed login) or `RateLimited`, `EmailTaken` when another account has it.
    pub async fn request_email_change(
        &self,
        principal: &Principal,
        new_email: &str,
        current: &PlainPassword,
        client: &ClientContext,
    ) -> Result<(), AppError> {
        let new_email = Email::parse(new_email).map_err(|e| AppError::Validation(vec![e.at("new_email")]))?;
        self.current_password().confirm(principal, current, client).await?;
        if new_email == principal.user.email {
            return Err(AppError::validation("new_email", "is already the account's address"));
        }
        if self.users.find_credentials_by_email(&new_email).await?.is_some() {
            return Err(AppError::EmailTaken);
        }
        let event = DomainEvent::email_change_requested(&principal.user, &new_email, self.clock.now());
        Ok(self.links.raise(vec![event]).await?)
    }

    /// Spends an email-change link: the user has the new, verified address.
    ///
    /// # Errors
    /// `InvalidLink`; `EmailTaken` when another account took the address meanwhile.
    pub async fn confirm_email_change(&self, token: &str) -> Result<User, AppError> {
        let hash = self.tokens.hash(token);
        match self.links.confirm_email_change(&hash, self.clock.now()).await? {
            EmailChangeOutcome::Changed(user) => Ok(user),
            EmailChangeOutcome::InvalidLink => Err(AppError::InvalidLink),
        }
    }

    /// Deletes expired and spent link tokens (the retention job); answers how many.
    pub async fn purge_links(&self) -> Result<u64, AppError> {
        Ok(self.links.purge_links(self.clock.now()).await?)
    }
}
