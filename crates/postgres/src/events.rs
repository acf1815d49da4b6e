//! The transactional outbox on PostgreSQL: `append` writes a change's events inside the
//! change's own transaction; `EventOutbox` leases due events to relays with `FOR UPDATE
//! SKIP LOCKED` (so that any number of relays share the outbox without taking the same
//! events) and keeps each event owed until it is handled (`handled_at`), `DeadLetters` reads and revives the events that failed for good in-process,
//! and `ProcessedEvents` records which handler handled which event.

use crate::error::TxError;
use crate::prepared::prepared;
use crate::{PgStore, error};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{
    Claim, DeadLetter, DeadLetters, EventOutbox, OutboxBacklog, OutboxEntry, Page, PageRequest, ProcessedEvents,
};
use storefront_domain::{DomainEvent, EventId, EventType};
use uuid::Uuid;

/// Inserts events (bound as parallel arrays `$1..=$5`), in array order, available at once.
pub(crate) const APPEND_EVENTS: &str = "\
INSERT INTO outbox (id, event_type, version, occurred_at, payload, available_at)
SELECT e.id, e.event_type, e.version, e.occurred_at, e.payload, e.occurred_at
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::jsonb[])
    WITH ORDINALITY AS e (id, event_type, version, occurred_at, payload, n)
ORDER BY e.n";

/// The events as the parallel arrays `APPEND_EVENTS` binds.
pub(crate) struct EventColumns {
    pub ids: Vec<Uuid>,
    pub types: Vec<&'static str>,
    pub versions: Vec<i32>,
    pub times: Vec<DateTime<Utc>>,
    pub payloads: Vec<serde_json::Value>,
}

impl EventColumns {
    pub(crate) fn of(events: &[DomainEvent]) -> Self {
        Self {
            ids: events.iter().map(|e| e.id.0).collect(),
            types: events.iter().map(|e| e.event_type.as_str()).collect(),
            versions: events.iter().map(|e| i32::try_from(e.version).unwrap_or(i32::MAX)).collect(),
            times: events.iter().map(|e| e.occurred_at).collect(),
            payloads: events.iter().map(|e| e.payload.clone()).collect(),
        }
    }
}

/// Writes the events of the change the caller's transaction is making.
pub(crate) async fn append(conn: &mut AsyncPgConnection, events: &[DomainEvent]) -> Result<(), TxError> {
    if events.is_empty() {
        return Ok(());
    }
    let columns = EventColumns::of(events);
    let append = diesel::sql_query(APPEND_EVENTS)
        .bind::<Array<SqlUuid>, _>(columns.ids)
        .bind::<Array<Text>, _>(columns.types)
        .bind::<Array<Integer>, _>(columns.versions)
        .bind::<Array<Timestamptz>, _>(columns.times)
        .bind::<Array<Jsonb>, _>(columns.payloads);
    prepared(append).execute(conn).await?;
    Ok(())
}

/// Leases the oldest due events: rows another relay is leasing at this moment are skipped,
/// not waited for.
const LEASE_DUE: &str = "\
UPDATE outbox SET available_at = $2
WHERE seq IN (
    SELECT seq FROM outbox
    WHERE handled_at IS NULL AND dead_at IS NULL AND available_at <= $1
    ORDER BY seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING seq, id, event_type, version, occurred_at, payload, attempts";

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
}

impl TryFrom<EventRow> for DomainEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let event_type = EventType::parse(&row.event_type)
            .ok_or_else(|| StoreError::Internal(format!("event {} has an unknown type {}", row.id, row.event_type)))?;
        Ok(DomainEvent {
            id: EventId(row.id),
            event_type,
            version: u32::try_from(row.version).unwrap_or(0),
            occurred_at: row.occurred_at,
            payload: row.payload,
        })
    }
}

#[derive(QueryableByName)]
struct LeasedRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(embed)]
    event: EventRow,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(embed)]
    event: Option<EventRow>,
}

#[derive(QueryableByName)]
struct DeadRow {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(embed)]
    event: Option<EventRow>,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    attempts: Option<i32>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    dead_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Owed {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    oldest: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn attempts(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

#[async_trait]
impl EventOutbox for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn lease_due(
        &self,
        limit: usize,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let lease = diesel::sql_query(LEASE_DUE)
                .bind::<Timestamptz, _>(now)
                .bind::<Timestamptz, _>(now + lease)
                .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX));
            let mut rows = prepared(lease).load::<LeasedRow>(&mut conn).await.map_err(error::from_diesel)?;
            // RETURNING has no order of its own.
            rows.sort_by_key(|row| row.seq);
            rows.into_iter()
                .map(|row| Ok(OutboxEntry { attempts: attempts(row.attempts), event: row.event.try_into()? }))
                .collect()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(events = ids.len()))]
    async fn release(&self, ids: &[EventId], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
            diesel::sql_query(
                "UPDATE outbox SET available_at = LEAST(available_at, $2) \
                 WHERE id = ANY($1) AND handled_at IS NULL AND dead_at IS NULL",
            )
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<Timestamptz, _>(now)
            .execute(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(events = ids.len()))]
    async fn mark_published(
        &self,
        ids: &[EventId],
        now: DateTime<Utc>,
        redeliver_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
            let published = diesel::sql_query(
                "UPDATE outbox SET published_at = $2, available_at = $3 \
                 WHERE id = ANY($1) AND handled_at IS NULL AND dead_at IS NULL",
            )
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(redeliver_at);
            prepared(published).execute(&mut conn).await.map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn redeliver_published(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let due = diesel::sql_query(
                "UPDATE outbox SET available_at = $1 \
                 WHERE published_at IS NOT NULL AND handled_at IS NULL AND dead_at IS NULL AND available_at > $1",
            )
            .bind::<Timestamptz, _>(now)
            .execute(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            Ok(due as u64)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(events = ids.len()))]
    async fn mark_handled(&self, ids: &[EventId], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
            let settle = diesel::sql_query(
                "UPDATE outbox SET handled_at = $2 WHERE id = ANY($1) AND handled_at IS NULL AND dead_at IS NULL",
            )
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<Timestamptz, _>(now);
            prepared(settle).execute(&mut conn).await.map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, error))]
    async fn mark_failed(
        &self,
        id: EventId,
        error: &str,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::sql_query(
                "UPDATE outbox SET attempts = $5, last_error = $2, \
                 available_at = COALESCE($3, available_at), dead_at = CASE WHEN $3 IS NULL THEN $4 END \
                 WHERE id = $1 AND handled_at IS NULL AND dead_at IS NULL",
            )
            .bind::<SqlUuid, _>(id.0)
            .bind::<Text, _>(error)
            .bind::<Nullable<Timestamptz>, _>(retry_at)
            .bind::<Timestamptz, _>(now)
            .bind::<Integer, _>(i32::try_from(attempts).unwrap_or(i32::MAX))
            .execute(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let owed = diesel::sql_query(
                "SELECT count(*) AS n, min(occurred_at) AS oldest FROM outbox \
                 WHERE handled_at IS NULL AND dead_at IS NULL",
            )
            .get_result::<Owed>(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            Ok(OutboxBacklog { owed: crate::catalog::count(owed.n, "backlog")?, oldest_owed_at: owed.oldest })
        })
        .await
    }

    async fn events(&self, page: PageRequest) -> Result<Page<DomainEvent>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let (limit, offset) = crate::catalog::limit_offset(page);
            let rows = diesel::sql_query(
                "SELECT t.total, e.id, e.event_type, e.version, e.occurred_at, e.payload
                 FROM (SELECT count(*) AS total FROM outbox) t
                 LEFT JOIN (SELECT * FROM outbox ORDER BY seq LIMIT $1 OFFSET $2) e ON true
                 ORDER BY e.seq",
            )
            .bind::<BigInt, _>(limit)
            .bind::<BigInt, _>(offset)
            .load::<PageRow>(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            let total = <[_]>::first(&rows).map_or(0, |row: &PageRow| row.total);
            let items =
                rows.into_iter().filter_map(|row| row.event).map(DomainEvent::try_from).collect::<Result<_, _>>()?;
            Ok(Page { items, total: crate::catalog::count(total, "total")? })
        })
        .await
    }

    async fn purge_handled(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.purge_older_than("DELETE FROM outbox WHERE handled_at < $1", before).await
    }
}

#[async_trait]
impl DeadLetters for PgStore {
    async fn list(&self, page: PageRequest) -> Result<Page<DeadLetter>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let (limit, offset) = crate::catalog::limit_offset(page);
            let rows = diesel::sql_query(
                "SELECT t.total, e.id, e.event_type, e.version, e.occurred_at, e.payload, e.last_error, e.attempts, e.dead_at
                 FROM (SELECT count(*) AS total FROM outbox WHERE dead_at IS NOT NULL) t
                 LEFT JOIN (SELECT * FROM outbox WHERE dead_at IS NOT NULL
                            ORDER BY dead_at DESC, id DESC LIMIT $1 OFFSET $2) e ON true
                 ORDER BY e.dead_at DESC, e.id DESC",
            )
            .bind::<BigInt, _>(limit)
            .bind::<BigInt, _>(offset)
            .load::<DeadRow>(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            let total = <[_]>::first(&rows).map_or(0, |row: &DeadRow| row.total);
            let mut items = Vec::new();
            for row in rows {
                if let (Some(event), Some(failed_at)) = (row.event, row.dead_at) {
                    items.push(DeadLetter {
                        event: event.try_into()?,
                        error: row.last_error.unwrap_or_default(),
                        attempts: attempts(row.attempts.unwrap_or(0)),
                        failed_at,
                    });
                }
            }
            Ok(Page { items, total: crate::catalog::count(total, "total")? })
        })
        .await
    }

    async fn retry(&self, id: EventId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let revived = diesel::sql_query(
                "UPDATE outbox SET dead_at = NULL, attempts = 0, available_at = $2 \
                 WHERE id = $1 AND dead_at IS NOT NULL",
            )
            .bind::<SqlUuid, _>(id.0)
            .bind::<Timestamptz, _>(now)
            .execute(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            Ok(revived == 1)
        })
        .await
    }
}

/// Claims `(handler, event)` unless it is handled or claimed by someone else until later;
/// `mine` when this statement took the claim, `done` when the event was handled already.
const CLAIM: &str = "\
WITH claimed AS (
    INSERT INTO processed_events (handler, event_id, processed_at, claimed_until)
    VALUES ($1, $2, NULL, $4)
    ON CONFLICT (handler, event_id) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
        WHERE processed_events.processed_at IS NULL AND processed_events.claimed_until <= $3
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM claimed) AS mine,
       EXISTS (SELECT 1 FROM processed_events
               WHERE handler = $1 AND event_id = $2 AND processed_at IS NOT NULL) AS done";

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    mine: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    done: bool,
}

#[async_trait]
impl ProcessedEvents for PgStore {
    async fn is_processed(&self, handler: &str, event: EventId) -> Result<bool, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let found = diesel::sql_query(
                "SELECT count(*) AS n FROM processed_events \
                 WHERE handler = $1 AND event_id = $2 AND processed_at IS NOT NULL",
            )
            .bind::<Text, _>(handler)
            .bind::<SqlUuid, _>(event.0)
            .get_result::<Count>(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            Ok(found.n > 0)
        })
        .await
    }

    async fn claim(
        &self,
        handler: &str,
        event: EventId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let claim = diesel::sql_query(CLAIM)
                .bind::<Text, _>(handler)
                .bind::<SqlUuid, _>(event.0)
                .bind::<Timestamptz, _>(now)
                .bind::<Timestamptz, _>(until);
            let row = prepared(claim).get_result::<ClaimRow>(&mut conn).await.map_err(error::from_diesel)?;
            Ok(match (row.mine, row.done) {
                (true, _) => Claim::Mine,
                (false, true) => Claim::Done,
                (false, false) => Claim::Busy,
            })
        })
        .await
    }

    async fn release_claim(&self, handler: &str, event: EventId) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::sql_query(
                "DELETE FROM processed_events WHERE handler = $1 AND event_id = $2 AND processed_at IS NULL",
            )
            .bind::<Text, _>(handler)
            .bind::<SqlUuid, _>(event.0)
            .execute(&mut conn)
            .await
            .map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn mark_processed(&self, handler: &str, event: EventId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let mark = diesel::sql_query(
                "INSERT INTO processed_events (handler, event_id, processed_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (handler, event_id) DO UPDATE \
                 SET processed_at = COALESCE(processed_events.processed_at, EXCLUDED.processed_at)",
            )
            .bind::<Text, _>(handler)
            .bind::<SqlUuid, _>(event.0)
            .bind::<Timestamptz, _>(now);
            prepared(mark).execute(&mut conn).await.map_err(error::from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn purge_processed(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let handled = self.purge_older_than("DELETE FROM processed_events WHERE processed_at < $1", before).await?;
        let abandoned = self
            .purge_older_than("DELETE FROM processed_events WHERE processed_at IS NULL AND claimed_until < $1", before)
            .await?;
        Ok(handled + abandoned)
    }
}
