//! Accounts: registration, the caller's profile, password change and account deletion.

use crate::client::ClientContext;
use crate::credentials::CurrentPassword;
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

    fn current_password(&self) -> CurrentPassword {
        CurrentPassword { users: self.users.clone(), hasher: self.hasher.clone(), limits: self.limits.clone() }
    }

    /// Applies a partial profile update to the caller. The email address is not changed
    /// here: the same address is a no-op, another one is refused (the confirmed flow of
    /// `POST /users/me/email` changes it).
    pub async fn update_profile(&self, principal: &Principal, update: ProfileUpdate) -> Result<User, AppError> {
        let mut violations: Vec<FieldViolation> = Vec::new();
        let changes = ProfileChanges {
            name: update
                .name
                .as_deref()
                .and_then(|raw| UserName::parse(raw).map_err(|e| violations.push(e.at("name"))).ok()),
            email: None,
        };
        if let Some(raw) = update.email.as_deref() {
            match Email::parse(raw) {
                Ok(email) if email == principal.user.email => {}
                Ok(_) => violations.push(FieldViolation::new(
                    "email",
                    "cannot be changed here; use POST /api/v1/users/me/email, which mails a confirmation link \
                     to the new address",
                )),
                Err(e) => violations.push(e.at("email")),
            }
        }
        if !violations.is_empty() {
            return Err(AppError::Validation(violations));
        }
        self.users.update_profile(principal.user.id, changes, self.clock.now()).await.map_err(AppError::on_own_account)
    }

    /// Changes the caller's password after checking the current one; every other session
    /// of the caller ends, the current one stays. A wrong current password is a failed
    /// login (see `CurrentPassword::confirm`).
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
        self.current_password().confirm(principal, current, client).await?;
        let hash = self.hasher.hash(new.as_plain()).await?;
        self.users
            .change_password(principal.user.id, hash, principal.session_id, self.clock.now())
            .await
            .map_err(AppError::on_own_account)
    }
}
