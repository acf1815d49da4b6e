//! Test data builders shared by the contract tests.

use crate::Stores;
use chrono::{DateTime, Duration, Utc};
use storefront_app::ports::{NewRefreshToken, NewSession, NewUser, RefreshTokenHash};
use storefront_domain::{Email, PasswordHash, RoleName, SessionId, User, UserId, UserName};
use uuid::Uuid;

/// The refresh-reuse grace period the tests pass to `rotate`.
pub const GRACE: Duration = Duration::seconds(5);

/// The lifetime of the refresh tokens the tests store.
pub const REFRESH_TTL: Duration = Duration::days(7);

/// The current time truncated to microseconds: PostgreSQL stores microseconds, so only
/// truncated values read back equal to what was written.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap()
}

pub fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

/// A `user` with a fake password hash (the store never looks inside it).
pub fn new_user(raw_email: &str) -> NewUser {
    NewUser {
        id: UserId(Uuid::now_v7()),
        email: email(raw_email),
        name: UserName::parse("Ada Lovelace").unwrap(),
        password_hash: PasswordHash::new(format!("$2b$04$fake-hash-{}", Uuid::new_v4())),
        role: RoleName::user(),
        created_at: now(),
    }
}

pub async fn create_user(stores: &Stores, raw_email: &str) -> User {
    stores.users.create(new_user(raw_email)).await.unwrap()
}

pub async fn create_user_with_role(stores: &Stores, raw_email: &str, role: &str) -> User {
    let user = NewUser { role: RoleName::parse(role).unwrap(), ..new_user(raw_email) };
    stores.users.create(user).await.unwrap()
}

/// A refresh token with a unique hash.
pub fn new_refresh_token(expires_at: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken { hash: RefreshTokenHash(format!("test-refresh-{}", Uuid::new_v4())), expires_at }
}

/// A session created at `created_at` whose first token lives for `REFRESH_TTL`.
pub fn new_session(user_id: UserId, created_at: DateTime<Utc>) -> NewSession {
    NewSession {
        id: SessionId(Uuid::now_v7()),
        user_id,
        user_agent: Some("contract-test/1.0".into()),
        ip: Some("192.0.2.7".into()),
        created_at,
        refresh: new_refresh_token(created_at + REFRESH_TTL),
    }
}

/// Starts a session created at `created_at`; returns its id and its first token's hash.
pub async fn start_session_at(
    stores: &Stores,
    user_id: UserId,
    created_at: DateTime<Utc>,
) -> (SessionId, RefreshTokenHash) {
    let session = new_session(user_id, created_at);
    let ids = (session.id, session.refresh.hash.clone());
    stores.sessions.start(session).await.unwrap();
    ids
}

/// Starts a session created now.
pub async fn start_session(stores: &Stores, user_id: UserId) -> (SessionId, RefreshTokenHash) {
    start_session_at(stores, user_id, now()).await
}
