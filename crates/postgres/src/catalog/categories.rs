//! `CategoryRepository` on PostgreSQL: categories with unique slugs and their product
//! counts; each call is one statement.

use super::{count, on_constraint};
use crate::error::{self, TxError};
use crate::schema::categories;
use crate::{PgStore, retrying};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use storefront_app::StoreError;
use storefront_app::ports::CategoryRepository;
use storefront_domain::{Category, CategoryId, CategoryName, Slug};
use uuid::Uuid;

const CATEGORIES_PKEY: &str = "categories_pkey";
const CATEGORIES_SLUG_KEY: &str = "categories_slug_key";

/// A category with its product count (kept on its row by a trigger on the links), over
/// `categories` aliased `c`.
const CATEGORY_COLUMNS: &str = "c.id, c.name, c.slug, c.product_count";

#[derive(QueryableByName)]
struct CategoryRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = BigInt)]
    product_count: i64,
}

impl TryFrom<CategoryRow> for Category {
    type Error = StoreError;

    fn try_from(row: CategoryRow) -> Result<Self, Self::Error> {
        Ok(Category {
            id: CategoryId(row.id),
            name: row.name,
            slug: row.slug,
            product_count: count(row.product_count, "product count")?,
        })
    }
}

/// The port error for a write that hit a category constraint.
fn conflict(err: diesel::result::Error, id: CategoryId, slug: Option<&Slug>) -> TxError {
    on_constraint(err, |name| match name {
        CATEGORIES_PKEY => Some(StoreError::Conflict(format!("category {id} already exists"))),
        CATEGORIES_SLUG_KEY => {
            Some(StoreError::Conflict(format!("the slug `{}` is taken", slug.map_or("", Slug::as_str))))
        }
        _ => None,
    })
}

#[async_trait]
impl CategoryRepository for PgStore {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn list(&self) -> Result<Vec<Category>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            // Names by bytes, as the code compares them, not by the database's locale.
            let sql = format!("SELECT {CATEGORY_COLUMNS} FROM categories c ORDER BY c.name COLLATE \"C\", c.id");
            let rows = diesel::sql_query(sql).load::<CategoryRow>(&mut conn).await.map_err(error::from_diesel)?;
            rows.into_iter().map(Category::try_from).collect()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn create(&self, id: CategoryId, name: &CategoryName, slug: &Slug) -> Result<Category, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            diesel::insert_into(categories::table)
                .values((
                    categories::id.eq(id.0),
                    categories::name.eq(name.as_str()),
                    categories::slug.eq(slug.as_str()),
                ))
                .execute(&mut conn)
                .await
                .map_err(|e| conflict(e, id, Some(slug)))?;
            // A new category has no products yet.
            Ok(Category { id, name: name.as_str().to_owned(), slug: slug.as_str().to_owned(), product_count: 0 })
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn update(
        &self,
        id: CategoryId,
        name: Option<&CategoryName>,
        slug: Option<&Slug>,
    ) -> Result<Category, StoreError> {
        // A new name or slug reaches the category arrays of its products by trigger, in this
        // statement, which locks those products in id order: run again if PostgreSQL breaks
        // a deadlock with a product's edit by aborting this one.
        self.bounded(retrying(|| async {
            let mut conn = self.conn().await?;
            let sql = format!(
                "UPDATE categories AS c SET name = COALESCE($2, c.name), slug = COALESCE($3, c.slug) \
                 WHERE c.id = $1 RETURNING {CATEGORY_COLUMNS}"
            );
            let row = diesel::sql_query(sql)
                .bind::<SqlUuid, _>(id.0)
                .bind::<Nullable<Text>, _>(name.map(CategoryName::as_str))
                .bind::<Nullable<Text>, _>(slug.map(Slug::as_str))
                .get_result::<CategoryRow>(&mut conn)
                .await
                .optional()
                .map_err(|e| conflict(e, id, slug))?
                .ok_or(StoreError::NotFound)?;
            Ok(Category::try_from(row)?)
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, id: CategoryId) -> Result<(), StoreError> {
        // Its links go with it (ON DELETE CASCADE), and its products' category arrays are
        // refreshed by trigger; the products stay. Run again if aborted as a deadlock victim.
        self.bounded(retrying(|| async {
            let mut conn = self.conn().await?;
            let deleted = diesel::delete(categories::table.find(id.0)).execute(&mut conn).await?;
            if deleted == 0 { Err(StoreError::NotFound.into()) } else { Ok(()) }
        }))
        .await
    }
}
