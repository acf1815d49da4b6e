//! The caller's current password and second-factor codes as proofs of identity: each wrong
//! one is a failed login, counted against the account's and the client IP's login limits.

use crate::client::ClientContext;
use crate::ports::{PasswordHasher, UserRepository};
use crate::rate_limit::{ClientAction, RateLimits};
use crate::{AppError, Principal};
use std::sync::Arc;
use storefront_domain::PlainPassword;

/// Checks the caller's current password before a sensitive change (password, email, second
/// factor). A wrong one is a failed login: it counts against the account's and the client
/// IP's login limits, and once either is reached every attempt answers `RateLimited` before
/// any bcrypt work (a stolen access token must not become an unlimited password oracle).
#[derive(Clone)]
pub(crate) struct CurrentPassword {
    pub(crate) users: Arc<dyn UserRepository>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) limits: RateLimits,
}

impl CurrentPassword {
    /// `Ok` when `current` is the caller's password; `InvalidCredentials` when not.
    pub(crate) async fn confirm(
        &self,
        principal: &Principal,
        current: &PlainPassword,
        client: &ClientContext,
    ) -> Result<(), AppError> {
        let ip = client.ip.as_deref();
        let account = principal.user.email.as_str();
        self.limits.admit(ClientAction::Login, ip).await?;
        if let Err(refused) = self.limits.count_login_attempt(account).await {
            self.limits.forgive(ClientAction::Login, ip).await;
            return Err(refused);
        }
        let verified = match self.users.find_credentials_by_id(principal.user.id).await {
            Ok(Some(credentials)) => {
                self.hasher.verify(current, Some(&credentials.password_hash)).await.map_err(AppError::from)
            }
            Ok(None) => Err(AppError::InvalidToken),
            Err(error) => Err(error.into()),
        };
        if !matches!(verified, Ok(false)) {
            // Right, or not checked at all (a failure of ours): not a failed login.
            self.limits.forgive_login(account).await;
            self.limits.forgive(ClientAction::Login, ip).await;
        }
        if !verified? {
            tracing::info!(security_event = "login_failed", user_id = %principal.user.id, "wrong current password");
            return Err(AppError::InvalidCredentials);
        }
        Ok(())
    }

    /// Counts a second-factor code against the account's login limit before it is checked
    /// (`check` answers whether it was right): a wrong code is a failed login.
    pub(crate) async fn code_attempt<F>(&self, account: &str, ip: Option<&str>, check: F) -> Result<(), AppError>
    where
        F: std::future::Future<Output = Result<bool, AppError>>,
    {
        self.limits.admit(ClientAction::Login, ip).await?;
        self.limits.count_login_attempt(account).await?;
        match check.await {
            Ok(true) => {
                self.limits.forgive_login(account).await;
                Ok(())
            }
            Ok(false) => {
                tracing::info!(security_event = "mfa_failed", "wrong second-factor code");
                Err(AppError::InvalidCode)
            }
            Err(error) => {
                self.limits.forgive_login(account).await;
                Err(error)
            }
        }
    }
}
