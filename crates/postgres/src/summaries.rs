//! `ReviewSummaryRepository` on PostgreSQL: one row per product (deleted with it by
//! `ON DELETE CASCADE`); the regeneration slot is claimed on the locked row, by the domain's
//! `RegenerationRule`, so concurrent handlers on any number of instances claim it once.

use crate::error::{self, TxError};
use crate::schema::review_summaries;
use crate::{PgStore, retrying};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{GeneratedSummary, ReviewSummaryRepository, StoredReviewSummary};
use storefront_domain::{ProductId, RegenerationRule};
use uuid::Uuid;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = review_summaries, check_for_backend(diesel::pg::Pg))]
struct SummaryRow {
    product_id: Uuid,
    summary: Option<String>,
    review_count: i64,
    rating_avg: Option<f64>,
    generated_at: Option<DateTime<Utc>>,
    provider: Option<String>,
    model: Option<String>,
    stale: bool,
    claimed_at: Option<DateTime<Utc>>,
}

impl From<SummaryRow> for StoredReviewSummary {
    fn from(row: SummaryRow) -> Self {
        StoredReviewSummary {
            product_id: ProductId(row.product_id),
            summary: row.summary,
            review_count: u64::try_from(row.review_count).unwrap_or(0),
            rating_avg: row.rating_avg,
            generated_at: row.generated_at,
            provider: row.provider,
            model: row.model,
            stale: row.stale,
            claimed_at: row.claimed_at,
        }
    }
}

/// An unknown product is `NotFound` (the row's foreign key refused it).
fn unknown_product(err: DieselError) -> TxError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => TxError::Store(StoreError::NotFound),
        other => TxError::Query(other),
    }
}

#[async_trait]
impl ReviewSummaryRepository for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn review_summary(&self, product: ProductId) -> Result<Option<StoredReviewSummary>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let row = review_summaries::table
                .find(product.as_uuid())
                .select(SummaryRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?;
            Ok(row.map(StoredReviewSummary::from))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn mark_summary_stale(&self, product: ProductId) -> Result<(), StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            diesel::insert_into(review_summaries::table)
                .values((
                    review_summaries::product_id.eq(product.as_uuid()),
                    review_summaries::stale.eq(true),
                    review_summaries::revision.eq(1),
                ))
                .on_conflict(review_summaries::product_id)
                .do_update()
                .set((review_summaries::stale.eq(true), review_summaries::revision.eq(review_summaries::revision + 1)))
                .execute(&mut conn)
                .await
                .map_err(unknown_product)?;
            Ok(())
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn claim_summary_regeneration(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        rule: RegenerationRule,
    ) -> Result<Option<i64>, StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                diesel::insert_into(review_summaries::table)
                    .values(review_summaries::product_id.eq(product.as_uuid()))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await
                    .map_err(unknown_product)?;
                // Locked: a concurrent claim waits here, then sees this one's.
                let (claimed_at, revision): (Option<DateTime<Utc>>, i64) = review_summaries::table
                    .find(product.as_uuid())
                    .select((review_summaries::claimed_at, review_summaries::revision))
                    .for_update()
                    .first(conn)
                    .await?;
                if !rule.allows(claimed_at, now) {
                    return Ok(None);
                }
                diesel::update(review_summaries::table.find(product.as_uuid()))
                    .set(review_summaries::claimed_at.eq(now))
                    .execute(conn)
                    .await?;
                Ok(Some(revision))
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, generated))]
    async fn store_review_summary(&self, product: ProductId, generated: &GeneratedSummary) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let updated = diesel::update(review_summaries::table.find(product.as_uuid()))
                .set((
                    review_summaries::summary.eq(&generated.summary),
                    review_summaries::review_count.eq(i64::try_from(generated.review_count).unwrap_or(i64::MAX)),
                    review_summaries::rating_avg.eq(generated.rating_avg),
                    review_summaries::generated_at.eq(generated.generated_at),
                    review_summaries::provider.eq(&generated.provider),
                    review_summaries::model.eq(&generated.model),
                    // A review changed since the claim: the summary is stored, but stale.
                    review_summaries::stale.eq(review_summaries::revision.ne(generated.revision)),
                ))
                .execute(&mut conn)
                .await
                .map_err(error::from_diesel)?;
            if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }
}
