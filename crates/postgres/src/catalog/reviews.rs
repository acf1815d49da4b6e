//! `ReviewRepository` on PostgreSQL: one review per author and product (a unique
//! constraint), shown with the author's current name and its moderation; the product's
//! review count and rating (approved reviews only) follow each write in its own statement
//! through the trigger on `reviews`. A write that raises an event or is audited is one
//! transaction with it; the moderation writes lock the product's row before the review's,
//! the order every catalogue transaction takes.

use super::{Param, Params, count, limit_offset, on_constraint};
use crate::error::{self, TxError};
use crate::schema::reviews;
use crate::{PgStore, audit, events, retrying};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, NewReview, Page, PageRequest, ReviewRepository};
use storefront_domain::{
    DomainEvent, ModerationDecision, ModerationStatus, ProductId, Rating, Review, ReviewAuthor, ReviewBody, ReviewId,
    ReviewModeration, ReviewVerdict, UserId, VerdictOutcome, verdict_outcome,
};
use uuid::Uuid;

const REVIEWS_PKEY: &str = "reviews_pkey";
const REVIEWS_AUTHOR_PRODUCT_KEY: &str = "reviews_author_id_product_id_key";
const REVIEWS_PRODUCT_FKEY: &str = "reviews_product_id_fkey";
const REVIEWS_AUTHOR_FKEY: &str = "reviews_author_id_fkey";

/// A review as shown, over a review row source `r` joined with its author `u`. A purchase
/// is verified by a non-cancelled order of the author's with a line of the product (one
/// probe of `order_lines_product_id_idx` per review).
const REVIEW_COLUMNS: &str = "\
r.id, r.product_id, r.author_id, u.name AS author_name, r.rating, r.body, r.created_at, r.updated_at, \
r.revision, r.moderation_status, r.toxicity, r.checked_at, \
EXISTS (SELECT 1 FROM order_lines ol JOIN orders o ON o.id = ol.order_id \
        WHERE ol.product_id = r.product_id AND o.user_id = r.author_id AND o.status <> 'cancelled') \
    AS verified_purchase";

/// Inserts a review and answers it as shown, in one statement.
const CREATE: &str = "\
WITH r AS (
    INSERT INTO reviews (id, product_id, author_id, rating, body, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $6)
    RETURNING *
)";

/// Changes a review and answers it as shown, in one statement; a body other than the
/// stored one is a new revision of the text.
const UPDATE: &str = "\
WITH r AS (
    UPDATE reviews SET rating = COALESCE($2, rating), body = COALESCE($3, body), updated_at = $4,
        revision = revision + CASE WHEN $3 IS NOT NULL AND $3 <> body THEN 1 ELSE 0 END
    WHERE id = $1
    RETURNING *
)";

/// Locks the row of the review's product (the trigger updates it when the review's status
/// changes), before the review's own: products before reviews, as every catalogue
/// transaction locks them. A review never moves to another product.
const LOCK_PRODUCT_OF_REVIEW: &str =
    "SELECT 1 FROM products WHERE id = (SELECT product_id FROM reviews WHERE id = $1) FOR NO KEY UPDATE";

/// Locks the review and reads what a verdict or a decision is decided on.
const LOCK_REVIEW: &str = "\
SELECT product_id, author_id, revision, decided_revision, moderation_status FROM reviews WHERE id = $1 FOR UPDATE";

#[derive(QueryableByName)]
struct ReviewRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    author_id: Uuid,
    #[diesel(sql_type = Text)]
    author_name: String,
    #[diesel(sql_type = SmallInt)]
    rating: i16,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Bool)]
    verified_purchase: bool,
    #[diesel(sql_type = BigInt)]
    revision: i64,
    #[diesel(sql_type = Text)]
    moderation_status: String,
    #[diesel(sql_type = Nullable<Double>)]
    toxicity: Option<f64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    checked_at: Option<DateTime<Utc>>,
}

/// A review's moderation state, read under lock.
#[derive(QueryableByName)]
struct LockedReview {
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    author_id: Uuid,
    #[diesel(sql_type = BigInt)]
    revision: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    decided_revision: Option<i64>,
    #[diesel(sql_type = Text)]
    moderation_status: String,
}

fn status(raw: &str, review: Uuid) -> Result<ModerationStatus, StoreError> {
    ModerationStatus::parse(raw)
        .ok_or_else(|| StoreError::Internal(format!("review {review} has an unknown moderation status")))
}

/// Locks the review's product, then the review (`LOCK_PRODUCT_OF_REVIEW`); `NotFound` when
/// the review does not exist.
async fn lock_review(conn: &mut AsyncPgConnection, id: ReviewId) -> Result<LockedReview, TxError> {
    diesel::sql_query(LOCK_PRODUCT_OF_REVIEW).bind::<SqlUuid, _>(id.0).execute(conn).await?;
    diesel::sql_query(LOCK_REVIEW)
        .bind::<SqlUuid, _>(id.0)
        .get_result::<LockedReview>(conn)
        .await
        .optional()?
        .ok_or(TxError::Store(StoreError::NotFound))
}

/// The review as shown, on the transaction's connection.
async fn shown(conn: &mut AsyncPgConnection, id: ReviewId) -> Result<Review, TxError> {
    let sql = format!("SELECT {REVIEW_COLUMNS} FROM reviews r JOIN users u ON u.id = r.author_id WHERE r.id = $1");
    let row = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(id.0)
        .get_result::<ReviewRow>(conn)
        .await
        .optional()?
        .ok_or(TxError::Store(StoreError::NotFound))?;
    Ok(Review::try_from(row)?)
}

/// One row of a page: the total, and a review unless the page is empty.
#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(embed)]
    review: Option<ReviewRow>,
}

impl TryFrom<ReviewRow> for Review {
    type Error = StoreError;

    fn try_from(row: ReviewRow) -> Result<Self, Self::Error> {
        let rating = u8::try_from(row.rating)
            .map_err(|_| StoreError::Internal(format!("review {} has an invalid rating", row.id)))?;
        Ok(Review {
            id: ReviewId(row.id),
            product_id: ProductId(row.product_id),
            author: ReviewAuthor { id: UserId(row.author_id), name: row.author_name },
            rating,
            body: row.body,
            verified_purchase: row.verified_purchase,
            revision: row.revision,
            moderation: ReviewModeration {
                status: status(&row.moderation_status, row.id)?,
                toxicity: row.toxicity,
                checked_at: row.checked_at,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl PgStore {
    /// The reviews matching `wanted` (a condition on `reviews` over `params`), newest first,
    /// paged; shaped like the product listing: the total left-joined with the page, in one
    /// statement and so one snapshot.
    async fn review_page(
        &self,
        mut params: Params,
        wanted: &str,
        page: PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let (limit, offset) = limit_offset(page);
            let limit = params.add(Param::BigInt(limit));
            let offset = params.add(Param::BigInt(offset));
            let sql = format!(
                "SELECT t.total, {REVIEW_COLUMNS}\n\
                 FROM (SELECT count(*) AS total FROM reviews WHERE {wanted}) t\n\
                 LEFT JOIN (SELECT * FROM reviews WHERE {wanted}\n\
                            ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}) r ON true\n\
                 LEFT JOIN users u ON u.id = r.author_id\n\
                 ORDER BY r.created_at DESC, r.id DESC"
            );
            let rows = params.query(&sql).load::<PageRow>(&mut conn).await.map_err(error::from_diesel)?;
            let total = <[_]>::first(&rows).map_or(0, |row: &PageRow| row.total);
            let items =
                rows.into_iter().filter_map(|row| row.review).map(Review::try_from).collect::<Result<_, _>>()?;
            Ok(Page { items, total: count(total, "total")? })
        })
        .await
    }
}

#[async_trait]
impl ReviewRepository for PgStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %new.id))]
    async fn create(&self, new: NewReview) -> Result<Review, StoreError> {
        let new = &new;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let sql = format!("{CREATE} SELECT {REVIEW_COLUMNS} FROM r JOIN users u ON u.id = r.author_id");
                // Of concurrent reviews by one author, the unique constraint lets exactly one in.
                let review: Review = diesel::sql_query(sql)
                    .bind::<SqlUuid, _>(new.id.0)
                    .bind::<SqlUuid, _>(new.product_id.0)
                    .bind::<SqlUuid, _>(new.author_id.as_uuid())
                    .bind::<SmallInt, _>(i16::from(new.rating.get()))
                    .bind::<Text, _>(new.body.as_str())
                    .bind::<Timestamptz, _>(new.created_at)
                    .get_result::<ReviewRow>(conn)
                    .await
                    .map_err(|e| {
                        on_constraint(e, |name| match name {
                            REVIEWS_AUTHOR_PRODUCT_KEY => Some(StoreError::AlreadyExists),
                            REVIEWS_PKEY => Some(StoreError::Conflict(format!("review {} already exists", new.id))),
                            REVIEWS_PRODUCT_FKEY => Some(StoreError::NotFound),
                            REVIEWS_AUTHOR_FKEY => Some(StoreError::InvalidReference("author_id".into())),
                            _ => None,
                        })
                    })?
                    .try_into()?;
                events::append(conn, &[DomainEvent::review_created(&review)]).await?;
                Ok(review)
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&self, id: ReviewId) -> Result<Option<Review>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let sql =
                format!("SELECT {REVIEW_COLUMNS} FROM reviews r JOIN users u ON u.id = r.author_id WHERE r.id = $1");
            diesel::sql_query(sql)
                .bind::<SqlUuid, _>(id.0)
                .get_result::<ReviewRow>(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .map(Review::try_from)
                .transpose()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list_for_product(&self, product: ProductId, page: PageRequest) -> Result<Page<Review>, StoreError> {
        let mut params = Params::default();
        let product = params.add(Param::Uuid(product.0));
        let wanted = format!("product_id = {product} AND moderation_status = 'approved'");
        self.review_page(params, &wanted, page).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list_for_viewer(
        &self,
        product: ProductId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        let mut params = Params::default();
        let product = params.add(Param::Uuid(product.0));
        let viewer = params.add(Param::Uuid(viewer.as_uuid()));
        let wanted = format!("product_id = {product} AND (moderation_status = 'approved' OR author_id = {viewer})");
        self.review_page(params, &wanted, page).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list_by_status(&self, status: ModerationStatus, page: PageRequest) -> Result<Page<Review>, StoreError> {
        let mut params = Params::default();
        let status = params.add(Param::Text(status.as_str().to_owned()));
        self.review_page(params, &format!("moderation_status = {status}"), page).await
    }

    #[tracing::instrument(level = "debug", skip(self, body))]
    async fn update(
        &self,
        id: ReviewId,
        rating: Option<Rating>,
        body: Option<ReviewBody>,
        now: DateTime<Utc>,
    ) -> Result<Review, StoreError> {
        let body = &body;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let sql = format!("{UPDATE} SELECT {REVIEW_COLUMNS} FROM r JOIN users u ON u.id = r.author_id");
                let review: Review = diesel::sql_query(sql)
                    .bind::<SqlUuid, _>(id.0)
                    .bind::<Nullable<SmallInt>, _>(rating.map(|r| i16::from(r.get())))
                    .bind::<Nullable<Text>, _>(body.as_ref().map(ReviewBody::as_str))
                    .bind::<Timestamptz, _>(now)
                    .get_result::<ReviewRow>(conn)
                    .await
                    .optional()?
                    .ok_or(TxError::Store(StoreError::NotFound))?
                    .try_into()?;
                events::append(conn, &[DomainEvent::review_updated(&review)]).await?;
                Ok(review)
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn record_verdict(&self, id: ReviewId, verdict: ReviewVerdict) -> Result<VerdictOutcome, StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let locked = lock_review(conn, id).await?;
                let outcome = verdict_outcome(verdict.revision, locked.revision, locked.decided_revision);
                if outcome == VerdictOutcome::Recorded {
                    diesel::sql_query(
                        "UPDATE reviews SET moderation_status = $2, toxicity = $3, checked_at = $4 WHERE id = $1",
                    )
                    .bind::<SqlUuid, _>(id.0)
                    .bind::<Text, _>(verdict.status.as_str())
                    .bind::<Nullable<Double>, _>(verdict.toxicity)
                    .bind::<Timestamptz, _>(verdict.checked_at)
                    .execute(conn)
                    .await?;
                }
                Ok(outcome)
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, ctx))]
    async fn decide(
        &self,
        id: ReviewId,
        decision: ModerationDecision,
        ctx: AuditContext,
    ) -> Result<Review, StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let locked = lock_review(conn, id).await?;
                let before = status(&locked.moderation_status, id.0)?;
                diesel::sql_query(
                    "UPDATE reviews SET moderation_status = $2, checked_at = $3, decided_revision = revision, \
                     decided_by = $4 WHERE id = $1",
                )
                .bind::<SqlUuid, _>(id.0)
                .bind::<Text, _>(decision.status().as_str())
                .bind::<Timestamptz, _>(ctx.now)
                .bind::<SqlUuid, _>(ctx.actor.as_uuid())
                .execute(conn)
                .await?;
                let draft = decision.audit(id, ProductId(locked.product_id), UserId(locked.author_id), before);
                audit::record(conn, &[draft], ctx).await?;
                shown(conn, id).await
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, id: ReviewId) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let deleted =
                diesel::delete(reviews::table.find(id.0)).execute(&mut conn).await.map_err(error::from_diesel)?;
            if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }
}
