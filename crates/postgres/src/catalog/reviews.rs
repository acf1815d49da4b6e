//! `ReviewRepository` on PostgreSQL: one review per author and product (a unique
//! constraint), shown with the author's current name; each call is one statement, and the
//! product's review count and rating follow in it through the trigger on `reviews`.

use super::{Param, Params, count, limit_offset, on_constraint};
use crate::error::{self, TxError};
use crate::schema::reviews;
use crate::{PgStore, events, retrying};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use storefront_app::StoreError;
use storefront_app::ports::{NewReview, Page, PageRequest, ReviewRepository};
use storefront_domain::{DomainEvent, ProductId, Rating, Review, ReviewAuthor, ReviewBody, ReviewId, UserId};
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

/// Changes a review and answers it as shown, in one statement.
const UPDATE: &str = "\
WITH r AS (
    UPDATE reviews SET rating = COALESCE($2, rating), body = COALESCE($3, body), updated_at = $4
    WHERE id = $1
    RETURNING *
)";

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
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
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
        self.bounded(async {
            let mut conn = self.conn().await?;
            let mut params = Params::default();
            let product = params.add(Param::Uuid(product.0));
            let (limit, offset) = limit_offset(page);
            let limit = params.add(Param::BigInt(limit));
            let offset = params.add(Param::BigInt(offset));
            // Shaped like the product listing: the total left-joined with the page, in
            // one statement and so one snapshot.
            let sql = format!(
                "SELECT t.total, {REVIEW_COLUMNS}\n\
                 FROM (SELECT count(*) AS total FROM reviews WHERE product_id = {product}) t\n\
                 LEFT JOIN (SELECT * FROM reviews WHERE product_id = {product}\n\
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

    #[tracing::instrument(level = "debug", skip(self, body))]
    async fn update(
        &self,
        id: ReviewId,
        rating: Option<Rating>,
        body: Option<ReviewBody>,
        now: DateTime<Utc>,
    ) -> Result<Review, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let sql = format!("{UPDATE} SELECT {REVIEW_COLUMNS} FROM r JOIN users u ON u.id = r.author_id");
            diesel::sql_query(sql)
                .bind::<SqlUuid, _>(id.0)
                .bind::<Nullable<SmallInt>, _>(rating.map(|r| i16::from(r.get())))
                .bind::<Nullable<Text>, _>(body.as_ref().map(ReviewBody::as_str))
                .bind::<Timestamptz, _>(now)
                .get_result::<ReviewRow>(&mut conn)
                .await
                .optional()
                .map_err(error::from_diesel)?
                .ok_or(StoreError::NotFound)?
                .try_into()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, id: ReviewId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let deleted: Option<(Uuid, Uuid)> = diesel::delete(reviews::table.find(id.0))
                    .returning((reviews::product_id, reviews::author_id))
                    .get_result(conn)
                    .await
                    .optional()?;
                let (product, author) = deleted.ok_or(TxError::Store(StoreError::NotFound))?;
                events::append(conn, &[DomainEvent::review_deleted(id, ProductId(product), UserId(author), now)])
                    .await?;
                Ok(())
            })
            .await
        }))
        .await
    }
}
