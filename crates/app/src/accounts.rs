//! Accounts: registration, the caller's profile, password change and account deletion.

use crate::ClientContext;
use crate::ports::{Clock, IdGenerator, NewUser, PasswordHasher, ProfileChanges, UserRepository};
use crate::rate_limit::{ClientAction, RateLimits};
use crate::{AppError, Principal};
use std::sync::Arc;
use storefront_domain::{Email, FieldViolation, NewPassword, PlainPassword, RoleName, User, UserName};

/// A registration as submitted, before validation.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: String,
    pub password: PlainPassword,
    pub name: String,
}

/// A profile update as submitted; `None` leaves the field unchanged.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone)]
pub struct AccountService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    limits: RateLimits,
}

impl AccountService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { users, hasher, clock, ids, limits: RateLimits::disabled() }
    }

    /// The same service, enforcing `limits` on registrations from clients (none without this).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same service over another password hasher (the demo seeding's, which hashes
    /// its one password once).
    pub fn with_hasher(mut self, hasher: Arc<dyn PasswordHasher>) -> Self {
        self.hasher = hasher;
        self
    }

    /// Registers a new account for a client, within the client IP's registration limit.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn register_from(&self, registration: Registration, client: &ClientContext) -> Result<User, AppError> {
        self.limits.admit(ClientAction::Register, client.ip.as_deref()).await?;
        self.register(registration).await
    }

    /// Registers a new account with the `user` role.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn register(&self, registration: Registration) -> Result<User, AppError> {
        self.create_with_role(registration, RoleName::user()).await
    }

    /// Creates an account with the given role (used by `storefront create-admin`).
    pub async fn create_with_role(&self, registration: Registration, role: RoleName) -> Result<User, AppError> {
        let mut violations = Vec::new();
        let email = Email::parse(&registration.email).map_err(|e| violations.push(e.at("email"))).ok();
        let name = UserName::parse(&registration.name).map_err(|e| violations.push(e.at("name"))).ok();
        let password = match &email {
            Some(email) => NewPassword::parse(registration.password.expose(), email)
                .map_err(|e| violations.push(e.at("password")))
                .ok(),
            None => None,
        };
        let (Some(email), Some(name), Some(password)) = (email, name, password) else {
            return Err(AppError::Validation(violations));
        };
        let password_hash = self.hasher.hash(password.as_plain()).await?;
        let user =
            NewUser { id: self.ids.new_id().into(), email, name, password_hash, role, created_at: self.clock.now() };
        Ok(self.users.create(user).await?)
    }

    /// Applies a partial profile update to the caller.
    pub async fn update_profile(&self, principal: &Principal, update: ProfileUpdate) -> Result<User, AppError> {
        let mut violations: Vec<FieldViolation> = Vec::new();
        let changes = ProfileChanges {
            name: update
                .name
                .as_deref()
                .and_then(|raw| UserName::parse(raw).map_err(|e| violations.push(e.at("name"))).ok()),
            email: update
                .email
                .as_deref()
                .and_then(|raw| Email::parse(raw).map_err(|e| violations.push(e.at("email"))).ok()),
        };
        if !violations.is_empty() {
            return Err(AppError::Validation(violations));
        }
        self.users.update_profile(principal.user.id, changes, self.clock.now()).await.map_err(AppError::on_own_account)
    }

    /// Changes the caller's password after checking the current one; every other session
    /// of the caller ends, the current one stays. A wrong current password is a failed
    /// login: it counts against the account's and the client IP's login limits, and once
    /// either is reached every attempt answers `RateLimited` before any bcrypt work (a
    /// stolen access token must not become an unlimited password oracle).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &PlainPassword,
        new: &PlainPassword,
        client: &ClientContext,
    ) -> Result<(), AppError> {
        let new = NewPassword::parse(new.expose(), &principal.user.email)
            .map_err(|e| AppError::Validation(vec![e.at("new_password")]))?;
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
        let hash = self.hasher.hash(new.as_plain()).await?;
        self.users
            .change_password(principal.user.id, hash, principal.session_id, self.clock.now())
            .await
            .map_err(AppError::on_own_account)
    }
}
