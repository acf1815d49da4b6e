//! `SessionRepository` on PostgreSQL: sessions (refresh-token families), refresh-token
//! rotation with reuse detection, and ending sessions.

use crate::PgStore;
use crate::error::{self, TxError};
use crate::schema::{refresh_tokens, sessions};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{NewRefreshToken, NewSession, RefreshTokenHash, RotateOutcome, SessionRepository};
use storefront_domain::{RefreshDecision, RefreshTokenState, Session, SessionId, UserId};
use uuid::Uuid;

/// A session as listed to its owner.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: SessionId(row.id),
            user_id: UserId(row.user_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            user_agent: row.user_agent,
            ip: row.ip,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = sessions)]
struct NewSessionRow<'a> {
    id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    user_agent: Option<&'a str>,
    ip: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
struct NewRefreshTokenRow<'a> {
    token_hash: &'a str,
    session_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A presented refresh token with what decides its fate, locked for the transaction.
#[derive(QueryableByName)]
struct PresentedTokenRow {
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = SqlUuid)]
    session_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Bool)]
    session_revoked: bool,
    #[diesel(sql_type = Bool)]
    user_active: bool,
}

/// Locks the token row (so that of concurrent rotations exactly one sees it unspent) and
/// its session row (so that a concurrent logout is seen, not overwritten). `NO KEY`
/// leaves foreign-key checks of other transactions unblocked.
const LOCK_PRESENTED_TOKEN: &str = "\
SELECT t.expires_at, t.used_at, t.session_id, s.user_id,
       s.revoked_at IS NOT NULL AS session_revoked, u.is_active AS user_active
FROM refresh_tokens t
JOIN sessions s ON s.id = t.session_id
JOIN users u ON u.id = s.user_id
WHERE t.token_hash = $1
FOR NO KEY UPDATE OF t, s";

/// Ends the user's active sessions after the newest `$2` (by creation, then id).
const END_OLDEST_BEYOND: &str = "\
UPDATE sessions SET revoked_at = $3
WHERE id IN (
    SELECT id FROM sessions
    WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $3
    ORDER BY created_at DESC, id DESC
    OFFSET $2
)";

/// Refresh tokens expired before `$1` (spent ones of live sessions included) and every
/// token of a session the next statement deletes: deleted here, not by the cascade, so that
/// they are counted.
const PURGE_EXPIRED_TOKENS: &str = "\
DELETE FROM refresh_tokens
WHERE expires_at < $1
   OR session_id IN (SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $1)";

/// Sessions expired or ended before `$1`.
const PURGE_ENDED_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1";

#[async_trait]
impl SessionRepository for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn end_oldest_beyond(&self, user_id: UserId, keep: usize, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let ended = diesel::sql_query(END_OLDEST_BEYOND)
                .bind::<SqlUuid, _>(user_id.as_uuid())
                .bind::<diesel::sql_types::BigInt, _>(i64::try_from(keep).unwrap_or(i64::MAX))
                .bind::<Timestamptz, _>(now)
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(ended as u64)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn purge_ended(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // Tokens first: a token of a session that ends between the two statements goes
        // with its session by the cascade (uncounted) rather than being left behind.
        let tokens = self.purge_older_than(PURGE_EXPIRED_TOKENS, before).await?;
        let sessions = self.purge_older_than(PURGE_ENDED_SESSIONS, before).await?;
        Ok(sessions + tokens)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn start(&self, session: NewSession) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let row = NewSessionRow {
                    id: session.id.as_uuid(),
                    user_id: session.user_id.as_uuid(),
                    created_at: session.created_at,
                    last_used_at: session.created_at,
                    expires_at: session.refresh.expires_at,
                    user_agent: session.user_agent.as_deref(),
                    ip: session.ip.as_deref(),
                };
                diesel::insert_into(sessions::table).values(&row).execute(conn).await.map_err(|e| match e {
                    // The user was deleted meanwhile.
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _) => {
                        TxError::Store(StoreError::NotFound)
                    }
                    other => TxError::Query(other),
                })?;
                insert_token(conn, session.id.as_uuid(), &session.refresh, session.created_at).await?;
                Ok(())
            })
            .await
            .map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<RotateOutcome, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let Some(token) = diesel::sql_query(LOCK_PRESENTED_TOKEN)
                    .bind::<Text, _>(presented.0.as_str())
                    .get_result::<PresentedTokenRow>(conn)
                    .await
                    .optional()?
                else {
                    return Ok(RotateOutcome::Unknown);
                };
                let state = RefreshTokenState {
                    expires_at: token.expires_at,
                    used_at: token.used_at,
                    session_revoked: token.session_revoked,
                    user_active: token.user_active,
                };
                match state.decide(now, grace) {
                    RefreshDecision::Rotate => {
                        diesel::update(refresh_tokens::table.find(presented.0.as_str()))
                            .set(refresh_tokens::used_at.eq(now))
                            .execute(conn)
                            .await?;
                        insert_token(conn, token.session_id, &replacement, now).await?;
                        // The session lives as long as its newest token.
                        diesel::update(sessions::table.find(token.session_id))
                            .set((sessions::last_used_at.eq(now), sessions::expires_at.eq(replacement.expires_at)))
                            .execute(conn)
                            .await?;
                        Ok(RotateOutcome::Rotated {
                            user_id: UserId(token.user_id),
                            session_id: SessionId(token.session_id),
                        })
                    }
                    RefreshDecision::RevokeFamily => {
                        tracing::warn!(session_id = %token.session_id, "refresh token reused; revoking its session");
                        diesel::update(sessions::table.find(token.session_id))
                            .set(sessions::revoked_at.eq(now))
                            .execute(conn)
                            .await?;
                        Ok(RotateOutcome::Refused(RefreshDecision::RevokeFamily))
                    }
                    decision @ (RefreshDecision::Reject | RefreshDecision::RejectWithinGrace) => {
                        Ok(RotateOutcome::Refused(decision))
                    }
                }
            })
            .await
            .map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn end_by_refresh_token(&self, presented: &RefreshTokenHash, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let family = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(presented.0.as_str()))
                .select(refresh_tokens::session_id);
            diesel::update(sessions::table)
                .filter(sessions::id.eq_any(family))
                .filter(sessions::revoked_at.is_null())
                .set(sessions::revoked_at.eq(now))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn end(&self, user_id: UserId, session_id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let ended = diesel::update(sessions::table.find(session_id.as_uuid()))
                .filter(sessions::user_id.eq(user_id.as_uuid()))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .set(sessions::revoked_at.eq(now))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(ended > 0)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn end_all(&self, user_id: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::update(sessions::table)
                .filter(sessions::user_id.eq(user_id.as_uuid()))
                .filter(sessions::revoked_at.is_null())
                .set(sessions::revoked_at.eq(now))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list_active(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let rows = sessions::table
                .filter(sessions::user_id.eq(user_id.as_uuid()))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .order((sessions::created_at.desc(), sessions::id.desc()))
                .select(SessionRow::as_select())
                .load(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(rows.into_iter().map(Session::from).collect())
        })
        .await
    }
}

/// Stores one refresh token of a session's family.
async fn insert_token(
    conn: &mut diesel_async::AsyncPgConnection,
    session_id: Uuid,
    token: &NewRefreshToken,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let row = NewRefreshTokenRow {
        token_hash: token.hash.0.as_str(),
        session_id,
        created_at: now,
        expires_at: token.expires_at,
    };
    diesel::insert_into(refresh_tokens::table).values(&row).execute(conn).await
}
