//! `IdempotencyStore` on PostgreSQL: one row per user and key, claimed by an
//! `INSERT … ON CONFLICT` that only takes over a key past its retention or abandoned, so
//! that of any number of concurrent first requests, on any number of servers, exactly one
//! claims the key.

use crate::error::TxError;
use crate::{PgStore, error};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Binary, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{IdempotencyBegin, IdempotencyStore, StoredResponse};
use storefront_domain::UserId;

const IDEMPOTENCY_USER_FKEY: &str = "idempotency_keys_user_id_fkey";

/// How many times `begin` looks again when the key it saw taken was released before it
/// could read it.
const BEGIN_ATTEMPTS: u32 = 3;

/// Claims the key: a new row, or the old one taken over when its response is past the
/// retention (`$5`) or its request was abandoned (`$6`). Affects a row only when claimed.
const CLAIM: &str = "\
INSERT INTO idempotency_keys (user_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, key) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, created_at = EXCLUDED.created_at, completed_at = NULL,
    response_status = NULL, response_location = NULL, response_body = NULL
WHERE (idempotency_keys.completed_at IS NOT NULL AND idempotency_keys.completed_at < $5)
   OR (idempotency_keys.completed_at IS NULL AND idempotency_keys.created_at < $6)";

/// A key someone else holds.
#[derive(QueryableByName)]
struct HeldKey {
    #[diesel(sql_type = Text)]
    fingerprint: String,
    #[diesel(sql_type = Nullable<SmallInt>)]
    response_status: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    response_location: Option<String>,
    #[diesel(sql_type = Nullable<Binary>)]
    response_body: Option<Vec<u8>>,
}

impl HeldKey {
    fn outcome(self, fingerprint: &str) -> Result<IdempotencyBegin, StoreError> {
        if self.fingerprint != fingerprint {
            return Ok(IdempotencyBegin::KeyReused);
        }
        match (self.response_status, self.response_body) {
            (Some(status), Some(body)) => {
                let status = u16::try_from(status)
                    .map_err(|_| StoreError::Internal(format!("stored response status {status}")))?;
                Ok(IdempotencyBegin::Replay(StoredResponse { status, location: self.response_location, body }))
            }
            _ => Ok(IdempotencyBegin::InFlight),
        }
    }
}

fn claim_error(err: DieselError) -> StoreError {
    match &err {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)
            if info.constraint_name() == Some(IDEMPOTENCY_USER_FKEY) =>
        {
            StoreError::InvalidReference("user_id".into())
        }
        _ => error::from_diesel(err),
    }
}

/// Stores the response of a claimed key, in the caller's transaction (the unit of work
/// that made the request's writes). A claim that is gone (purged, or its user deleted) has
/// nothing to complete.
pub(super) async fn complete(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &str,
    response: &StoredResponse,
    now: DateTime<Utc>,
) -> Result<(), TxError> {
    let status = i16::try_from(response.status)
        .map_err(|_| StoreError::Internal(format!("response status {}", response.status)))?;
    diesel::sql_query(
        "UPDATE idempotency_keys SET completed_at = $3, response_status = $4, response_location = $5, \
         response_body = $6 WHERE user_id = $1 AND key = $2",
    )
    .bind::<SqlUuid, _>(user.as_uuid())
    .bind::<Text, _>(key)
    .bind::<Timestamptz, _>(now)
    .bind::<SmallInt, _>(status)
    .bind::<Nullable<Text>, _>(response.location.as_deref())
    .bind::<Binary, _>(&response.body)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl IdempotencyStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn begin(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        retention: Duration,
        abandon_after: Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            for _ in 0..BEGIN_ATTEMPTS {
                let claimed = diesel::sql_query(CLAIM)
                    .bind::<SqlUuid, _>(user.as_uuid())
                    .bind::<Text, _>(key)
                    .bind::<Text, _>(fingerprint)
                    .bind::<Timestamptz, _>(now)
                    .bind::<Timestamptz, _>(now - retention)
                    .bind::<Timestamptz, _>(now - abandon_after)
                    .execute(&mut conn)
                    .await
                    .map_err(claim_error)?;
                if claimed == 1 {
                    return Ok(IdempotencyBegin::Fresh);
                }
                // Another request holds the key. A statement of its own, so that it reads
                // what that request committed (READ COMMITTED takes a snapshot per statement).
                let held = diesel::sql_query(
                    "SELECT fingerprint, response_status, response_location, response_body \
                     FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                )
                .bind::<SqlUuid, _>(user.as_uuid())
                .bind::<Text, _>(key)
                .get_result::<HeldKey>(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?;
                if let Some(held) = held {
                    return held.outcome(fingerprint);
                }
                // Released in between: try to claim it again.
            }
            // Claimed and released again and again by others: as good as in flight.
            Ok(IdempotencyBegin::InFlight)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn release(&self, user: UserId, key: &str) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            // Only a claim is released: a stored response is kept for its replays.
            diesel::sql_query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND completed_at IS NULL")
                .bind::<SqlUuid, _>(user.as_uuid())
                .bind::<Text, _>(key)
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.purge_older_than("DELETE FROM idempotency_keys WHERE created_at < $1", before).await
    }
}
