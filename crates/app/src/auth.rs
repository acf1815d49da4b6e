//! Authentication: logins, access and refresh tokens, sessions, and turning a bearer token
//! into a `Principal` on every request.

use crate::client::ClientContext;
use crate::credentials::CurrentPassword;
use crate::mfa::CodeChecker;
use crate::ports::{
    AccessClaims, AccessTokenCodec, Clock, IdGenerator, LinkPurpose, LinkTokenRepository, NewLinkToken,
    NewRefreshToken, NewSession, PasswordHasher, RefreshTokenMint, RotateOutcome, SessionRepository, UserRepository,
};
use crate::rate_limit::{ClientAction, RateLimits};
use crate::{AppError, Principal};
use chrono::Duration;
use std::sync::Arc;
use storefront_domain::{Email, PlainPassword, RefreshDecision, Session, SessionId, User, UserId};

/// Token lifetimes, the refresh-reuse grace period and the cap on sessions per user.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    /// Active sessions one user may have; a login beyond it ends the oldest. At least 1.
    pub max_sessions_per_user: usize,
}

impl AuthSettings {
    pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 50;
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(30),
            refresh_ttl: Duration::days(7),
            refresh_reuse_grace: Duration::seconds(5),
            max_sessions_per_user: Self::DEFAULT_MAX_SESSIONS_PER_USER,
        }
    }
}

/// What a successful login or refresh returns.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

/// The outcome of checking a login's credentials.
enum Verdict {
    Valid(Box<User>),
    /// Wrong email, wrong password or deactivated account; the account, if there is one.
    Refused(Option<UserId>),
}

/// A session as listed to its owner, with whether the caller is using it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    pub current: bool,
}

#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    access_tokens: Arc<dyn AccessTokenCodec>,
    refresh_tokens: Arc<dyn RefreshTokenMint>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    settings: AuthSettings,
    limits: RateLimits,
    second_factor: Option<MfaLogin>,
}

/// What the second step of a login needs: where its `mfa_token` is kept and how long it
/// works, and the code checker.
#[derive(Clone)]
pub struct MfaLogin {
    pub(crate) links: Arc<dyn LinkTokenRepository>,
    pub(crate) checker: CodeChecker,
    pub(crate) mfa_token_ttl: Duration,
}

impl AuthService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        users: Arc<dyn UserRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        access_tokens: Arc<dyn AccessTokenCodec>,
        refresh_tokens: Arc<dyn RefreshTokenMint>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        settings: AuthSettings,
    ) -> Self {
        Self {
            users,
            sessions,
            hasher,
            access_tokens,
            refresh_tokens,
            clock,
            ids,
            settings,
            limits: RateLimits::disabled(),
            second_factor: None,
        }
    }

    /// The same service, asking accounts with a second factor for it at login.
    pub fn with_second_factor(mut self, second_factor: MfaLogin) -> Self {
        self.second_factor = Some(second_factor);
        self
    }

    /// The same service, enforcing `limits` on logins and refreshes (none without this).
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

    pub fn settings(&self) -> AuthSettings {
        self.settings
    }

    /// Checks email and password and starts a session. Unknown email, wrong password and
    /// deactivated account all answer `InvalidCredentials` after the same bcrypt work.
    /// The client IP's and the account's rate limits are checked first, before any bcrypt
    /// work; only failed logins use the account's quota.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn login(
        &self,
        email: &str,
        password: &PlainPassword,
        client: ClientContext,
    ) -> Result<TokenPair, AppError> {
        self.limits.admit(ClientAction::Login, client.ip.as_deref()).await?;
        self.limits.count_login_attempt(email).await?;
        match self.verify_credentials(email, password).await {
            Ok(Verdict::Valid(user)) => {
                self.limits.forgive_login(email).await;
                if user.mfa_enabled {
                    return Err(self.mfa_challenge(&user).await);
                }
                self.start_session(user.id, client).await
            }
            Ok(Verdict::Refused(user_id)) => {
                // Never the email or the password: only the account id, when there is one.
                let user_id = user_id.map(|id| id.to_string());
                tracing::info!(security_event = "login_failed", user_id, "login refused");
                Err(AppError::InvalidCredentials)
            }
            // The store or the hasher failed, not the caller: not a failed login.
            Err(error) => {
                self.limits.forgive_login(email).await;
                Err(error)
            }
        }
    }

    /// Whether `password` is the password of the active account `email`, after the same
    /// bcrypt work whether the account exists or not.
    async fn verify_credentials(&self, email: &str, password: &PlainPassword) -> Result<Verdict, AppError> {
        let credentials = match Email::parse(email) {
            Ok(email) => self.users.find_credentials_by_email(&email).await?,
            Err(_) => None,
        };
        let password_ok = self.hasher.verify(password, credentials.as_ref().map(|c| &c.password_hash)).await?;
        Ok(match credentials {
            Some(c) if password_ok && c.user.is_active => Verdict::Valid(Box::new(c.user)),
            refused => Verdict::Refused(refused.map(|c| c.user.id)),
        })
    }

    /// The password was right and the account has a second factor: a short-lived, single-use
    /// `mfa_token` for `complete_mfa`, as the error the login answers.
    async fn mfa_challenge(&self, user: &User) -> AppError {
        let Some(mfa) = &self.second_factor else {
            return AppError::Internal("an account has a second factor but logins cannot check it".into());
        };
        let now = self.clock.now();
        let (mfa_token, hash) = self.refresh_tokens.generate();
        let link = NewLinkToken {
            hash,
            purpose: LinkPurpose::MfaLogin,
            user_id: user.id,
            email: user.email.clone(),
            created_at: now,
            expires_at: now + mfa.mfa_token_ttl,
        };
        match mfa.links.create_link(link).await {
            Ok(()) => AppError::MfaRequired { mfa_token },
            Err(error) => error.into(),
        }
    }

    /// The second step of a login: the `mfa_token` of a right password and a TOTP or
    /// recovery code. A wrong code is a failed login of the account (and leaves the token
    /// usable); a right one spends the token and starts the session.
    ///
    /// # Errors
    /// `InvalidToken` for an unknown, spent or expired `mfa_token`; `InvalidCode`;
    /// `RateLimited`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn complete_mfa(
        &self,
        mfa_token: &str,
        code: &str,
        client: ClientContext,
    ) -> Result<TokenPair, AppError> {
        let Some(mfa) = &self.second_factor else { return Err(AppError::InvalidToken) };
        let now = self.clock.now();
        let hash = self.refresh_tokens.hash(mfa_token);
        let link = mfa.links.find_link(&hash, LinkPurpose::MfaLogin, now).await?.ok_or(AppError::InvalidToken)?;
        let user = self.users.find_by_id(link.user_id).await?.filter(|u| u.is_active).ok_or(AppError::InvalidToken)?;
        let attempts =
            CurrentPassword { users: self.users.clone(), hasher: self.hasher.clone(), limits: self.limits.clone() };
        let check = mfa.checker.spend(user.id, code, now);
        attempts.code_attempt(user.email.as_str(), client.ip.as_deref(), check).await?;
        if mfa.links.spend_link(&hash, LinkPurpose::MfaLogin, self.clock.now()).await?.is_none() {
            // A concurrent second step with the same token won.
            return Err(AppError::InvalidToken);
        }
        self.start_session(user.id, client).await
    }

    /// Starts a new session (refresh-token family) for a user whose identity is proven, and
    /// ends the user's oldest sessions beyond `max_sessions_per_user` (the new one is the
    /// newest, so it stays): endless logins cannot grow a user's sessions without bound.
    async fn start_session(&self, user_id: UserId, client: ClientContext) -> Result<TokenPair, AppError> {
        let now = self.clock.now();
        let session_id = SessionId(self.ids.new_id());
        let (refresh_token, hash) = self.refresh_tokens.generate();
        self.sessions
            .start(NewSession {
                id: session_id,
                user_id,
                user_agent: client.user_agent,
                ip: client.ip,
                created_at: now,
                refresh: NewRefreshToken { hash, expires_at: now + self.settings.refresh_ttl },
            })
            .await?;
        let keep = self.settings.max_sessions_per_user.max(1);
        let ended = self.sessions.end_oldest_beyond(user_id, keep, now).await?;
        if ended > 0 {
            tracing::info!(user_id = %user_id, ended, "oldest sessions ended: too many active sessions");
        }
        self.token_pair(user_id, session_id, refresh_token)
    }

    fn token_pair(&self, user_id: UserId, session_id: SessionId, refresh_token: String) -> Result<TokenPair, AppError> {
        let now = self.clock.now();
        let claims = AccessClaims {
            sub: user_id,
            sid: session_id,
            iat: now.timestamp(),
            exp: (now + self.settings.access_ttl).timestamp(),
            jti: self.ids.new_id(),
        };
        let access_token = self.access_tokens.encode(&claims).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(TokenPair { access_token, expires_in: self.settings.access_ttl.num_seconds(), refresh_token })
    }

    /// Spends a refresh token for a new pair; reuse of a spent token after the grace
    /// period revokes its whole family. The client IP's rate limit is checked first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn refresh(&self, presented: &str, client: &ClientContext) -> Result<TokenPair, AppError> {
        self.limits.admit(ClientAction::Refresh, client.ip.as_deref()).await?;
        let now = self.clock.now();
        let (refresh_token, hash) = self.refresh_tokens.generate();
        let replacement = NewRefreshToken { hash, expires_at: now + self.settings.refresh_ttl };
        let presented_hash = self.refresh_tokens.hash(presented);
        match self.sessions.rotate(&presented_hash, replacement, now, self.settings.refresh_reuse_grace).await? {
            RotateOutcome::Rotated { user_id, session_id } => self.token_pair(user_id, session_id, refresh_token),
            RotateOutcome::Refused(RefreshDecision::RevokeFamily) => {
                tracing::warn!(
                    security_event = "refresh_token_reuse",
                    "spent refresh token presented again; family revoked"
                );
                Err(AppError::InvalidToken)
            }
            RotateOutcome::Unknown | RotateOutcome::Refused(_) => Err(AppError::InvalidToken),
        }
    }

    /// Deletes sessions that expired or were ended, and expired refresh tokens (the
    /// retention job); returns how many rows went.
    pub async fn purge_ended_sessions(&self) -> Result<u64, AppError> {
        Ok(self.sessions.purge_ended(self.clock.now()).await?)
    }

    /// Ends the session a refresh token belongs to; unknown tokens are ignored.
    pub async fn logout(&self, presented: &str) -> Result<(), AppError> {
        let hash = self.refresh_tokens.hash(presented);
        Ok(self.sessions.end_by_refresh_token(&hash, self.clock.now()).await?)
    }

    /// Ends every session of the caller, its own included.
    pub async fn logout_all(&self, principal: &Principal) -> Result<(), AppError> {
        Ok(self.sessions.end_all(principal.user.id, self.clock.now()).await?)
    }

    /// Verifies a bearer token and loads its principal; any failure is `InvalidToken`.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AppError> {
        let claims = self.access_tokens.decode(bearer).map_err(|_| AppError::InvalidToken)?;
        self.users.load_principal(claims.sub, claims.sid, self.clock.now()).await?.ok_or(AppError::InvalidToken)
    }

    /// The caller's active sessions, marking the one its token belongs to.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<SessionView>, AppError> {
        let sessions = self.sessions.list_active(principal.user.id, self.clock.now()).await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionView { current: session.id == principal.session_id, session })
            .collect())
    }

    /// Revokes one of the caller's sessions; another user's session is `NotFound`.
    pub async fn end_session(&self, principal: &Principal, session_id: SessionId) -> Result<(), AppError> {
        if self.sessions.end(principal.user.id, session_id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}
