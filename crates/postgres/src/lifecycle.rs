//! `LinkTokenRepository` and `SecondFactorRepository` on PostgreSQL. Spending a token or a
//! time step is one conditional `UPDATE … RETURNING`, so of concurrent calls one wins; the
//! changes a token makes (a password reset, an email change) run in the same transaction.

use crate::error::{self, TxError};
use crate::schema::{link_tokens, recovery_codes, sessions, users};
use crate::users::UserRow;
use crate::{PgStore, audit, events, retrying};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{
    AuditContext, EmailChangeOutcome, LinkPurpose, LinkToken, LinkTokenRepository, NewLinkToken, RefreshTokenHash,
    SecondFactorRepository, TotpState,
};
use storefront_domain::{AuditAction, AuditDraft, DomainEvent, Email, PasswordHash, SessionId, User, UserId};

#[derive(Queryable, Selectable)]
#[diesel(table_name = link_tokens, check_for_backend(diesel::pg::Pg))]
struct LinkRow {
    purpose: String,
    user_id: uuid::Uuid,
    email: String,
    expires_at: DateTime<Utc>,
}

impl TryFrom<LinkRow> for LinkToken {
    type Error = StoreError;

    fn try_from(row: LinkRow) -> Result<Self, Self::Error> {
        let corrupt = |what: &str| StoreError::Internal(format!("a link token has an invalid {what}"));
        Ok(LinkToken {
            user_id: UserId(row.user_id),
            purpose: LinkPurpose::parse(&row.purpose).ok_or_else(|| corrupt("purpose"))?,
            email: Email::parse(&row.email).map_err(|_| corrupt("email"))?,
            expires_at: row.expires_at,
        })
    }
}

/// Spends the live token of `purpose` on the caller's transaction (or alone).
async fn spend(
    conn: &mut AsyncPgConnection,
    hash: &RefreshTokenHash,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<Option<LinkToken>, TxError> {
    let row = diesel::update(link_tokens::table.find(&hash.0))
        .filter(link_tokens::purpose.eq(purpose.as_str()))
        .filter(link_tokens::used_at.is_null())
        .filter(link_tokens::expires_at.gt(now))
        .set(link_tokens::used_at.eq(now))
        .returning(LinkRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(LinkToken::try_from).transpose()?)
}

/// The user's row, locked for the rest of the transaction.
async fn lock_user(conn: &mut AsyncPgConnection, id: UserId) -> Result<Option<User>, TxError> {
    let row = users::table.find(id.as_uuid()).select(UserRow::as_select()).for_update().first(conn).await.optional()?;
    Ok(row.map(User::try_from).transpose()?)
}

async fn end_sessions(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> Result<(), TxError> {
    let kept = keep.map(|s| s.as_uuid()).unwrap_or_else(uuid::Uuid::nil);
    diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id.as_uuid()))
        .filter(sessions::id.ne(kept))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

fn own(user: &User, now: DateTime<Utc>) -> AuditContext {
    AuditContext { actor: user.id, now }
}

#[async_trait]
impl LinkTokenRepository for PgStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_link(&self, link: NewLinkToken) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let inserted = diesel::insert_into(link_tokens::table)
                .values((
                    link_tokens::hash.eq(&link.hash.0),
                    link_tokens::purpose.eq(link.purpose.as_str()),
                    link_tokens::user_id.eq(link.user_id.as_uuid()),
                    link_tokens::email.eq(link.email.as_str()),
                    link_tokens::created_at.eq(link.created_at),
                    link_tokens::expires_at.eq(link.expires_at),
                ))
                .execute(&mut conn)
                .await;
            match inserted {
                Ok(_) => Ok(()),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                )) => Err(StoreError::NotFound),
                Err(e) => Err(error::from_diesel(e)),
            }
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn find_link(
        &self,
        hash: &RefreshTokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkToken>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            link_tokens::table
                .find(&hash.0)
                .filter(link_tokens::purpose.eq(purpose.as_str()))
                .filter(link_tokens::used_at.is_null())
                .filter(link_tokens::expires_at.gt(now))
                .select(LinkRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .map(LinkToken::try_from)
                .transpose()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn spend_link(
        &self,
        hash: &RefreshTokenHash,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkToken>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            spend(&mut conn, hash, purpose, now).await.map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn verify_email(&self, hash: &RefreshTokenHash, now: DateTime<Utc>) -> Result<Option<User>, StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let Some(link) = spend(conn, hash, LinkPurpose::VerifyEmail, now).await? else { return Ok(None) };
                let Some(user) = lock_user(conn, link.user_id).await? else { return Ok(None) };
                if user.email != link.email {
                    // Spent all the same (committed): the link can never prove anything.
                    return Ok(None);
                }
                if user.email_verified {
                    return Ok(Some(user));
                }
                let row: UserRow = diesel::update(users::table.find(user.id.as_uuid()))
                    .set((users::email_verified.eq(true), users::updated_at.eq(now)))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(Some(User::try_from(row)?))
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn reset_password(
        &self,
        hash: &RefreshTokenHash,
        user_id: UserId,
        password: PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let password = &password;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let Some(link) = spend(conn, hash, LinkPurpose::ResetPassword, now).await? else { return Ok(false) };
                if link.user_id != user_id {
                    // Rolled back: the token stays as it was.
                    return Err(TxError::Store(StoreError::Conflict("the link belongs to another user".into())));
                }
                let row: UserRow = diesel::update(users::table.find(user_id.as_uuid()))
                    .set((
                        users::password_hash.eq(password.as_str()),
                        users::email_verified.eq(true),
                        users::updated_at.eq(now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                let user = User::try_from(row)?;
                diesel::delete(link_tokens::table)
                    .filter(link_tokens::user_id.eq(user_id.as_uuid()))
                    .filter(link_tokens::purpose.eq(LinkPurpose::ResetPassword.as_str()))
                    .filter(link_tokens::hash.ne(&hash.0))
                    .execute(conn)
                    .await?;
                end_sessions(conn, user_id, None, now).await?;
                let draft = AuditDraft::account_change(AuditAction::UserPasswordReset, &user);
                audit::record(conn, &[draft], own(&user, now)).await?;
                events::append(conn, &[DomainEvent::password_reset(user_id, now)]).await?;
                Ok(true)
            })
            .await
        }))
        .await
        .or_else(|e| match e {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn confirm_email_change(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<EmailChangeOutcome, StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let Some(link) = spend(conn, hash, LinkPurpose::ChangeEmail, now).await? else {
                    return Ok(EmailChangeOutcome::InvalidLink);
                };
                let Some(before) = lock_user(conn, link.user_id).await? else {
                    return Ok(EmailChangeOutcome::InvalidLink);
                };
                // A unique violation here rolls the spending back too (`EmailTaken`).
                let row: UserRow = diesel::update(users::table.find(before.id.as_uuid()))
                    .set((
                        users::email.eq(link.email.as_str()),
                        users::email_verified.eq(true),
                        users::updated_at.eq(now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?;
                let user = User::try_from(row)?;
                audit::record(conn, &[AuditDraft::email_changed(&user, &before.email)], own(&user, now)).await?;
                Ok(EmailChangeOutcome::Changed(user))
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn raise(&self, raised: Vec<DomainEvent>) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            events::append(&mut conn, &raised).await.map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn purge_links(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted = diesel::delete(link_tokens::table)
                .filter(link_tokens::expires_at.lt(before).or(link_tokens::used_at.lt(before)))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(deleted as u64)
        })
        .await
    }
}

#[async_trait]
impl SecondFactorRepository for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn totp_state(&self, user_id: UserId) -> Result<Option<TotpState>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row: Option<(Option<String>, bool, Option<i64>)> = users::table
                .find(user_id.as_uuid())
                .select((users::totp_secret, users::mfa_enabled, users::totp_last_step))
                .first(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?;
            Ok(row.map(|(secret, enabled, last_step)| TotpState { secret, enabled, last_step }))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn begin_totp(&self, user_id: UserId, secret: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let updated = diesel::update(users::table.find(user_id.as_uuid()))
                .filter(users::mfa_enabled.eq(false))
                .set((users::totp_secret.eq(secret), users::updated_at.eq(now)))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            if updated > 0 {
                return Ok(true);
            }
            let exists: i64 = users::table
                .filter(users::id.eq(user_id.as_uuid()))
                .count()
                .get_result(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            if exists == 0 { Err(StoreError::NotFound) } else { Ok(false) }
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn enable_totp(
        &self,
        user_id: UserId,
        secret: &str,
        step: i64,
        recovery_codes: Vec<RefreshTokenHash>,
        ctx: AuditContext,
    ) -> Result<bool, StoreError> {
        let codes = &recovery_codes;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let row: Option<UserRow> = diesel::update(users::table.find(user_id.as_uuid()))
                    .filter(users::mfa_enabled.eq(false))
                    .filter(users::totp_secret.eq(secret))
                    .filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step)))
                    .set((users::mfa_enabled.eq(true), users::totp_last_step.eq(step), users::updated_at.eq(ctx.now)))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
                let Some(row) = row else { return Ok(false) };
                let user = User::try_from(row)?;
                diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id.as_uuid())))
                    .execute(conn)
                    .await?;
                let rows: Vec<_> = codes
                    .iter()
                    .map(|hash| (recovery_codes::user_id.eq(user_id.as_uuid()), recovery_codes::hash.eq(&hash.0)))
                    .collect();
                diesel::insert_into(recovery_codes::table).values(&rows).execute(conn).await?;
                let draft = AuditDraft::account_change(AuditAction::UserMfaEnabled, &user);
                audit::record(conn, &[draft], ctx).await?;
                Ok(true)
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn accept_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let updated = diesel::update(users::table.find(user_id.as_uuid()))
                .filter(users::mfa_enabled.eq(true))
                .filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step)))
                .set(users::totp_last_step.eq(step))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(updated == 1)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn use_recovery_code(
        &self,
        user_id: UserId,
        code: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let enabled = users::table
                .filter(users::id.eq(user_id.as_uuid()))
                .filter(users::mfa_enabled.eq(true))
                .select(users::id);
            let updated = diesel::update(recovery_codes::table.find((user_id.as_uuid(), &code.0)))
                .filter(recovery_codes::used_at.is_null())
                .filter(recovery_codes::user_id.eq_any(enabled))
                .set(recovery_codes::used_at.eq(now))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(updated == 1)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, ctx))]
    async fn disable_mfa(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        action: AuditAction,
        ctx: AuditContext,
    ) -> Result<(), StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let row: Option<UserRow> = diesel::update(users::table.find(user_id.as_uuid()))
                    .set((
                        users::mfa_enabled.eq(false),
                        users::totp_secret.eq(None::<String>),
                        users::totp_last_step.eq(None::<i64>),
                        users::updated_at.eq(ctx.now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
                let Some(row) = row else { return Err(StoreError::NotFound.into()) };
                let user = User::try_from(row)?;
                diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id.as_uuid())))
                    .execute(conn)
                    .await?;
                end_sessions(conn, user_id, keep, ctx.now).await?;
                audit::record(conn, &[AuditDraft::account_change(action, &user)], ctx).await?;
                Ok(())
            })
            .await
        }))
        .await
    }
}
