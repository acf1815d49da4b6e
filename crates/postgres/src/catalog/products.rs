//! `ProductRepository` on PostgreSQL: products with their category links and likes, and
//! the listing, which answers a page (rows, categories, `liked_by_me` and the total) in
//! one statement whatever the page size.

use super::{Param, Params, count, limit_offset, on_constraint};
use crate::error::{self, TxError};
use crate::prepared::prepared;
use crate::schema::{likes, product_categories, products};
use crate::{PgStore, events, retrying};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::sync::LazyLock;
use storefront_app::StoreError;
use storefront_app::ports::{NewProduct, Page, PageRequest, ProductChanges, ProductRepository, StockEvents};
use storefront_domain::{
    CategoryId, CategoryRef, Product, ProductFilter, ProductId, ProductPosition, ProductSort, ProductSortKey,
    SortValue, UserId,
};
use uuid::Uuid;

/// The columns of a product as shown, over a product row source aliased `p`; each query
/// adds `liked_by_me` for its viewer. The categories are the arrays the product row
/// carries (kept by the links' triggers, see the migration
/// `2026-12-09-100001_products_carry_their_categories`).
const PRODUCT_COLUMNS: &str = "\
p.id, p.owner_id, p.name, p.description, p.price_cents, p.stock, p.like_count, p.review_count, \
p.rating_tenths, p.created_at, p.updated_at, p.category_ids, p.category_names, p.category_slugs";

/// A new product (`$1`..`$7`) with its category links (`$8`, repeats allowed), answered as
/// shown: one statement, so one round trip and a transaction of its own. The row is
/// written with its category arrays (so the links' trigger finds nothing to refresh); the
/// links' sort keys are copied from it by their own trigger, which sees the row inserted
/// before them in the same statement. An unknown category fails the statement's
/// foreign-key check at its end, and nothing stays.
static CREATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH p AS (
    INSERT INTO products (id, owner_id, name, description, price_cents, stock, created_at, updated_at,
                          category_ids, category_names, category_slugs)
    SELECT $1, $2, $3, $4, $5, $6, $7, $7,
           COALESCE(array_agg(c.id ORDER BY c.name COLLATE \"C\", c.id), '{{}}'),
           COALESCE(array_agg(c.name ORDER BY c.name COLLATE \"C\", c.id), '{{}}'),
           COALESCE(array_agg(c.slug ORDER BY c.name COLLATE \"C\", c.id), '{{}}')
    FROM categories c WHERE c.id = ANY($8)
    RETURNING *
), links AS (
    INSERT INTO product_categories (product_id, category_id)
    SELECT p.id, c.id FROM p, (SELECT DISTINCT unnest($8::uuid[]) AS id) c
)
SELECT {PRODUCT_COLUMNS}, {liked} FROM p",
        liked = liked_by_me(None),
    )
});

/// The FK of a product's owner.
const PRODUCTS_OWNER_FKEY: &str = "products_owner_id_fkey";
const PRODUCTS_PKEY: &str = "products_pkey";
const LINKS_CATEGORY_FKEY: &str = "product_categories_category_id_fkey";
const LIKES_PRODUCT_FKEY: &str = "likes_product_id_fkey";
const LIKES_USER_FKEY: &str = "likes_user_id_fkey";

/// A product as shown to one viewer.
#[derive(QueryableByName)]
struct ProductRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    owner_id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    description: String,
    #[diesel(sql_type = BigInt)]
    price_cents: i64,
    #[diesel(sql_type = BigInt)]
    stock: i64,
    #[diesel(sql_type = BigInt)]
    like_count: i64,
    #[diesel(sql_type = BigInt)]
    review_count: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    rating_tenths: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Array<SqlUuid>)]
    category_ids: Vec<Uuid>,
    #[diesel(sql_type = Array<Text>)]
    category_names: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    category_slugs: Vec<String>,
    #[diesel(sql_type = Bool)]
    liked_by_me: bool,
}

/// One row of a page: the total of all matches, and a product unless the page is empty
/// (then the one row carries the total alone, its product columns all NULL).
#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(embed)]
    product: Option<ProductRow>,
}

impl TryFrom<ProductRow> for Product {
    type Error = StoreError;

    fn try_from(row: ProductRow) -> Result<Self, Self::Error> {
        let id = row.id;
        let corrupt = |what: &str| StoreError::Internal(format!("product {id} has an invalid {what}"));
        let categories_len = row.category_ids.len();
        if row.category_names.len() != categories_len || row.category_slugs.len() != categories_len {
            return Err(corrupt("category list"));
        }
        let categories = row
            .category_ids
            .into_iter()
            .zip(row.category_names)
            .zip(row.category_slugs)
            .map(|((id, name), slug)| CategoryRef { id: CategoryId(id), name, slug })
            .collect();
        Ok(Product {
            id: ProductId(id),
            owner_id: UserId(row.owner_id),
            name: row.name,
            description: row.description,
            price_cents: row.price_cents,
            stock: row.stock,
            categories,
            like_count: u64::try_from(row.like_count).map_err(|_| corrupt("like count"))?,
            review_count: u64::try_from(row.review_count).map_err(|_| corrupt("review count"))?,
            // The stored tenths are `rating_average`'s own integer step, so this is its value.
            rating_avg: row.rating_tenths.map(|tenths| tenths as f64 / 10.0),
            liked_by_me: row.liked_by_me,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A page of `PageRow`s as the port's page.
fn page_of(rows: Vec<PageRow>) -> Result<Page<Product>, StoreError> {
    // The statement always yields a row, if only the one carrying the total.
    let total = <[_]>::first(&rows).map_or(0, |row: &PageRow| row.total);
    let items = rows.into_iter().filter_map(|row| row.product).map(Product::try_from).collect::<Result<_, _>>()?;
    Ok(Page { items, total: count(total, "total")? })
}

/// `liked_by_me` for the viewer bound at `viewer` (an anonymous viewer likes nothing).
fn liked_by_me(viewer: Option<&str>) -> String {
    match viewer {
        Some(viewer) => {
            format!("EXISTS (SELECT 1 FROM likes l WHERE l.user_id = {viewer} AND l.product_id = p.id) AS liked_by_me")
        }
        None => "false AS liked_by_me".to_owned(),
    }
}

/// `s` as a LIKE pattern that matches exactly `s` (`\` is LIKE's escape character).
fn escape_like(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The conditions of `ProductFilter::matches` over products aliased `x`, but the
/// category's, its values bound in `params`.
fn conditions_but_category(filter: &ProductFilter, params: &mut Params) -> Vec<String> {
    let mut conditions = Vec::new();
    if let Some(q) = &filter.q {
        // Plain-text substring, case-insensitive: both sides lower-cased by the same
        // function, in the form the trigram indexes on lower(name) and lower(description)
        // are built for.
        let pattern = params.add(Param::Text(format!("%{}%", escape_like(q))));
        conditions.push(format!(
            "(lower(x.name) LIKE lower({pattern}) ESCAPE '\\' OR lower(x.description) LIKE lower({pattern}) ESCAPE '\\')"
        ));
    }
    if let Some(owner) = filter.owner_id {
        conditions.push(format!("x.owner_id = {}", params.add(Param::Uuid(owner.as_uuid()))));
    }
    if let Some(min) = filter.min_price {
        conditions.push(format!("x.price_cents >= {}", params.add(Param::BigInt(min))));
    }
    if let Some(max) = filter.max_price {
        conditions.push(format!("x.price_cents <= {}", params.add(Param::BigInt(max))));
    }
    if filter.in_stock {
        conditions.push("x.stock > 0".to_owned());
    }
    conditions
}

/// `WHERE` and the conditions, or nothing without any.
fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) }
}

/// The id of the category with this slug, as a scalar subquery (NULL, matching no link,
/// when there is none).
fn category_id(slug: &str, params: &mut Params) -> String {
    format!("(SELECT c.id FROM categories c WHERE c.slug = {})", params.add(Param::Text(slug.to_owned())))
}

/// The ORDER BY of `ProductSort::compare` over products aliased `alias`: names by bytes
/// (`COLLATE "C"`, as Rust compares strings), unrated last both ways, ties by id in the
/// same direction. Each has an index of the same shape.
fn order_by(sort: ProductSort, alias: &str) -> String {
    ordered_by(sort, alias, "id")
}

/// `order_by` over a row source whose product id column is `id` (a link's `product_id`).
fn ordered_by(sort: ProductSort, alias: &str, id: &str) -> String {
    let direction = if sort.descending { "DESC" } else { "ASC" };
    let key = match sort.key {
        ProductSortKey::CreatedAt => format!("{alias}.created_at {direction}"),
        ProductSortKey::Price => format!("{alias}.price_cents {direction}"),
        ProductSortKey::Name => format!("{alias}.name COLLATE \"C\" {direction}"),
        ProductSortKey::Likes => format!("{alias}.like_count {direction}"),
        // The tenths order exactly as the one-decimal averages they give.
        ProductSortKey::Rating => format!("{alias}.rating_tenths {direction} NULLS LAST"),
    };
    format!("{key}, {alias}.{id} {direction}")
}

/// `ProductSort::is_after(row, position)` over a row source aliased `alias` with the sort
/// keys' columns and the product id in `id`, its values bound in `params`: a row comparison
/// on the sort's own index columns, so that a keyset page starts with an index seek
/// (unrated products, last both ways, are the one exception).
fn after_position(sort: ProductSort, position: &ProductPosition, alias: &str, id: &str, params: &mut Params) -> String {
    let beyond = if sort.descending { "<" } else { ">" };
    let mut add = |param| unseen(params.add(param));
    let id_value = add(Param::Uuid(position.id.0));
    let (column, value) = match &position.value {
        SortValue::CreatedAt(at) => ("created_at", add(Param::Timestamptz(*at))),
        SortValue::Price(cents) => ("price_cents", add(Param::BigInt(*cents))),
        SortValue::Name(name) => ("name", add(Param::Text(name.clone()))),
        SortValue::Likes(likes) => ("like_count", add(Param::BigInt(i64::try_from(*likes).unwrap_or(i64::MAX)))),
        // After a rated position come the rated beyond it, then every unrated product;
        // after an unrated one, only the unrated beyond it by id.
        SortValue::Rating(Some(tenths)) => {
            let tenths = add(Param::BigInt(*tenths));
            return format!(
                "({alias}.rating_tenths IS NULL OR ({alias}.rating_tenths, {alias}.{id}) {beyond} ({tenths}, {id_value}))"
            );
        }
        SortValue::Rating(None) => {
            return format!("({alias}.rating_tenths IS NULL AND {alias}.{id} {beyond} {id_value})");
        }
    };
    let collate = if column == "name" { " COLLATE \"C\"" } else { "" };
    format!("({alias}.{column}{collate}, {alias}.{id}) {beyond} ({value}, {id_value})")
}

/// The listing statement: the count of all matches, left-joined with the page (so that a
/// page past the end still carries the total), each page row with its categories and
/// `liked_by_me`. The page is re-sorted outside, as a join does not keep an order. A
/// keyset page (`after`) narrows the page, never the total.
///
/// With a category, the page is driven from the category's links, which carry their
/// products' sort keys (kept by triggers): one ordered range of a link index, joined to
/// the products by primary key, reads about as many rows as the page holds. The total is
/// then the count the category's row keeps, unless other filters narrow it (then the
/// category's matching links are counted). Without any filter, the page is a range of a
/// products index and the total the product count the triggers keep; other filters
/// count their matches (an owner's products through its index; `in_stock` alone, every
/// product: documented in `docs/catalog-query-plan.md`).
///
/// The text is kept prepared and runs on PostgreSQL's generic plan where the filters
/// allow (`plan_fits_every_value`): the page size is written into it, a zero offset left
/// out, and a cursor's position bound out of the planner's sight (`rows_read`, `unseen`).
fn list_statement(
    filter: &ProductFilter,
    sort: ProductSort,
    page: PageRequest,
    after: Option<&ProductPosition>,
    viewer: Option<UserId>,
) -> (String, Params) {
    let mut params = Params::default();
    let others = conditions_but_category(filter, &mut params);
    let (total, rows) = match &filter.category {
        None => {
            let mut paged = others.clone();
            if let Some(position) = after {
                paged.push(after_position(sort, position, "x", "id", &mut params));
            }
            // Without any filter, the count the triggers keep (see the migration
            // `2026-12-09-100002_product_count`); a filter counts its matches.
            let total = if others.is_empty() {
                "SELECT COALESCE(sum(s.products), 0)::bigint AS total FROM product_count_shards s".to_owned()
            } else {
                format!("SELECT count(*) AS total FROM products x {}", where_clause(&others))
            };
            let rows =
                format!("SELECT x.* FROM products x {} ORDER BY {}", where_clause(&paged), ordered_by(sort, "x", "id"));
            (total, rows)
        }
        Some(slug) => {
            let category = category_id(slug, &mut params);
            let mut matching = vec![format!("l.category_id = {category}")];
            matching.extend(others.iter().cloned());
            let total = if others.is_empty() {
                format!(
                    "SELECT COALESCE((SELECT c.product_count FROM categories c WHERE c.id = {category}), 0) AS total"
                )
            } else {
                format!(
                    "SELECT count(*) AS total FROM product_categories l JOIN products x ON x.id = l.product_id {}",
                    where_clause(&matching)
                )
            };
            let mut paged = matching;
            if let Some(position) = after {
                paged.push(after_position(sort, position, "l", "product_id", &mut params));
            }
            let rows = format!(
                "SELECT x.* FROM product_categories l JOIN products x ON x.id = l.product_id {} ORDER BY {}",
                where_clause(&paged),
                ordered_by(sort, "l", "product_id")
            );
            (total, rows)
        }
    };
    let limit = rows_read(page.limit);
    let (_, offset) = limit_offset(page);
    let offset = if offset == 0 { String::new() } else { format!(" OFFSET {}", params.add(Param::BigInt(offset))) };
    let viewer = viewer.map(|v| params.add(Param::Uuid(v.as_uuid())));
    let sql = format!(
        "SELECT t.total, {PRODUCT_COLUMNS}, {liked}\n\
         FROM ({total}) t\n\
         LEFT JOIN ({rows} LIMIT {limit}{offset}) p ON true\n\
         ORDER BY {outer_order}",
        liked = liked_by_me(viewer.as_deref()),
        outer_order = order_by(sort, "p"),
    );
    (sql, params)
}

/// The row counts a listing statement's text may carry as its `LIMIT`: the default, a
/// middle and the largest page, each with the one more row the catalogue service asks for
/// to learn whether a next page exists.
const LIMITS_WRITTEN: [u32; 3] = [PageRequest::DEFAULT_LIMIT + 1, 51, PageRequest::MAX_LIMIT + 1];

/// The `LIMIT` written into the listing's text for a page of `limit`: the smallest of
/// `LIMITS_WRITTEN` that holds it (the rows beyond `limit` are dropped after reading).
///
/// A literal, not a parameter: PostgreSQL plans a parameter `LIMIT` (or `OFFSET`) as if it
/// took a tenth of the matches, which makes the generic plan of the prepared statement look
/// dearer than a custom one, so it would plan again on every execution (planning costs
/// about what running a page costs). Rounded up, so that a connection keeps at most three
/// texts per statement shape.
fn rows_read(limit: u32) -> u32 {
    LIMITS_WRITTEN.into_iter().find(|&written| written >= limit).unwrap_or(limit)
}

/// A bound value that the planner does not look at: `(SELECT $n)` is run once before the
/// statement (an init plan), and still bounds an index scan, but the cost estimates use
/// the default selectivity, as a generic plan does. A cursor's position written so keeps
/// the prepared listing on its generic plan, as a custom plan then never looks cheaper.
fn unseen(placeholder: String) -> String {
    format!("(SELECT {placeholder})")
}

/// Whether one plan of the listing statement serves every value of its parameters, so
/// that it is kept prepared on the connection (planning costs more than running a
/// category page): true unless a `q` pattern (whose trigrams decide whether the GIN
/// indexes help) or a price range (whose width decides between the price index and a
/// sort) is given. The texts kept are few: one per sort, filter shape and viewer presence.
fn plan_fits_every_value(filter: &ProductFilter) -> bool {
    filter.q.is_none() && filter.min_price.is_none() && filter.max_price.is_none()
}

/// One product by id (`$1`) as seen by nobody in particular, or (`$2`) by a viewer: two
/// fixed statements, kept prepared on each connection.
fn load_statement(viewer: bool) -> &'static str {
    static ANONYMOUS: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {PRODUCT_COLUMNS}, {} FROM products p WHERE p.id = $1", liked_by_me(None)));
    static VIEWED: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {PRODUCT_COLUMNS}, {} FROM products p WHERE p.id = $1", liked_by_me(Some("$2")))
    });
    if viewer { &VIEWED } else { &ANONYMOUS }
}

/// The product as `viewer` sees it, on the caller's connection (and transaction).
async fn load(conn: &mut AsyncPgConnection, id: ProductId, viewer: Option<UserId>) -> Result<Option<Product>, TxError> {
    let query = diesel::sql_query(load_statement(viewer.is_some())).bind::<SqlUuid, _>(id.0);
    let row = match viewer {
        Some(viewer) => prepared(query.bind::<SqlUuid, _>(viewer.as_uuid())).get_result::<ProductRow>(conn).await,
        None => prepared(query).get_result::<ProductRow>(conn).await,
    }
    .optional()?;
    Ok(row.map(Product::try_from).transpose()?)
}

/// Links the product to exactly `ids` (keeping the links that stay).
///
/// # Errors
/// `InvalidReference("category_ids")` when a category does not exist.
async fn set_categories(conn: &mut AsyncPgConnection, product: ProductId, ids: &[CategoryId]) -> Result<(), TxError> {
    let ids: Vec<Uuid> = ids.iter().map(|c| c.0).collect();
    diesel::delete(product_categories::table)
        .filter(product_categories::product_id.eq(product.0))
        .filter(product_categories::category_id.ne_all(&ids))
        .execute(conn)
        .await?;
    if ids.is_empty() {
        return Ok(());
    }
    let links: Vec<_> = ids
        .iter()
        .map(|&category| (product_categories::product_id.eq(product.0), product_categories::category_id.eq(category)))
        .collect();
    // A repeated id, or a link that stays, is one link.
    diesel::insert_into(product_categories::table).values(links).on_conflict_do_nothing().execute(conn).await.map_err(
        |e| {
            on_constraint(e, |name| {
                (name == LINKS_CATEGORY_FKEY).then(|| StoreError::InvalidReference("category_ids".into()))
            })
        },
    )?;
    Ok(())
}

/// `updated_at` is always set, so the changeset is never empty.
#[derive(AsChangeset)]
#[diesel(table_name = products)]
struct ProductChangeset<'a> {
    name: Option<&'a str>,
    description: Option<&'a str>,
    price_cents: Option<i64>,
    stock: Option<i64>,
    updated_at: DateTime<Utc>,
}

/// The result of unliking: whether the product exists at all.
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Bool)]
    found: bool,
}

/// Removes the user's like, if any, and says whether the product exists, in one statement.
const UNLIKE: &str = "\
WITH gone AS (DELETE FROM likes WHERE user_id = $1 AND product_id = $2)
SELECT EXISTS (SELECT 1 FROM products WHERE id = $2) AS found";

/// The products the user likes, most recently liked first, with the count of them; shaped
/// like the listing statement.
fn liked_by_statement(user: UserId, page: PageRequest) -> (String, Params) {
    let mut params = Params::default();
    let user = params.add(Param::Uuid(user.as_uuid()));
    let (limit, offset) = limit_offset(page);
    let limit = params.add(Param::BigInt(limit));
    let offset = params.add(Param::BigInt(offset));
    let sql = format!(
        "SELECT t.total, {PRODUCT_COLUMNS}, {liked}\n\
         FROM (SELECT count(*) AS total FROM likes WHERE user_id = {user}) t\n\
         LEFT JOIN (SELECT x.*, l.created_at AS liked_at FROM likes l JOIN products x ON x.id = l.product_id\n\
                    WHERE l.user_id = {user} ORDER BY l.created_at DESC, l.product_id DESC\n\
                    LIMIT {limit} OFFSET {offset}) p ON true\n\
         ORDER BY p.liked_at DESC, p.id DESC",
        liked = liked_by_me(Some(&user)),
    );
    (sql, params)
}

#[async_trait]
impl ProductRepository for PgStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %new.id))]
    async fn create(&self, new: NewProduct) -> Result<Product, StoreError> {
        let new = &new;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            let category_ids: Vec<Uuid> = new.category_ids.iter().map(|c| c.0).collect();
            let query = diesel::sql_query(CREATE.as_str())
                .bind::<SqlUuid, _>(new.id.0)
                .bind::<SqlUuid, _>(new.owner_id.as_uuid())
                .bind::<Text, _>(new.name.as_str())
                .bind::<Text, _>(new.description.as_str())
                .bind::<BigInt, _>(new.price.get())
                .bind::<BigInt, _>(new.stock.get())
                .bind::<Timestamptz, _>(new.created_at)
                .bind::<Array<SqlUuid>, _>(category_ids);
            let row = prepared(query).get_result::<ProductRow>(&mut conn).await.map_err(|e| {
                on_constraint(e, |name| match name {
                    PRODUCTS_PKEY => Some(StoreError::Conflict(format!("product {} already exists", new.id))),
                    PRODUCTS_OWNER_FKEY => Some(StoreError::InvalidReference("owner_id".into())),
                    LINKS_CATEGORY_FKEY => Some(StoreError::InvalidReference("category_ids".into())),
                    _ => None,
                })
            })?;
            Ok(Product::try_from(row)?)
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&self, id: ProductId, viewer: Option<UserId>) -> Result<Option<Product>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            load(&mut conn, id, viewer).await.map_err(StoreError::from)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list(
        &self,
        filter: &ProductFilter,
        sort: ProductSort,
        page: PageRequest,
        after: Option<&ProductPosition>,
        viewer: Option<UserId>,
    ) -> Result<Page<Product>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            // One statement, hence one snapshot: the page and the total agree.
            let (sql, params) = list_statement(filter, sort, page, after, viewer);
            let query = params.query(&sql);
            let rows = if plan_fits_every_value(filter) {
                prepared(query).load::<PageRow>(&mut conn).await
            } else {
                query.load::<PageRow>(&mut conn).await
            }
            .map_err(error::from_diesel)?;
            let mut page_read = page_of(rows)?;
            page_read.items.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
            Ok(page_read)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, changes, stock_events))]
    async fn update(
        &self,
        id: ProductId,
        changes: ProductChanges,
        now: DateTime<Utc>,
        stock_events: &StockEvents,
    ) -> Result<Product, StoreError> {
        let changes = &changes;
        self.bounded(retrying(|| async move {
            let mut conn = self.conn().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                // The stock before the change and the last low-stock alert (locked: they
                // decide the change's events).
                let stock_before: Option<(i64, Option<DateTime<Utc>>)> = match changes.stock {
                    Some(_) => Some(
                        products::table
                            .find(id.0)
                            .select((products::stock, products::low_stock_alerted_at))
                            .for_update()
                            .first(conn)
                            .await
                            .optional()?
                            .ok_or(StoreError::NotFound)?,
                    ),
                    None => None,
                };
                let changeset = ProductChangeset {
                    name: changes.name.as_ref().map(|n| n.as_str()),
                    description: changes.description.as_ref().map(|d| d.as_str()),
                    price_cents: changes.price.map(|p| p.get()),
                    stock: changes.stock.map(|s| s.get()),
                    updated_at: now,
                };
                let updated = diesel::update(products::table.find(id.0)).set(&changeset).execute(conn).await?;
                if updated == 0 {
                    return Err(StoreError::NotFound.into());
                }
                if let Some(ids) = &changes.category_ids {
                    set_categories(conn, id, ids).await?;
                }
                let product = load(conn, id, None).await?.ok_or(StoreError::NotFound)?;
                if let Some((before, last_alerted)) = stock_before {
                    let raised = stock_events(&product, before, last_alerted);
                    for &(alerted, at) in &raised.low_stock_alerted {
                        diesel::update(products::table.find(alerted.0))
                            .set(products::low_stock_alerted_at.eq(Some(at)))
                            .execute(conn)
                            .await?;
                    }
                    events::append(conn, &raised.events).await?;
                }
                Ok(product)
            })
            .await
        }))
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn delete(&self, id: ProductId) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            // Links, likes and reviews go with it (ON DELETE CASCADE).
            let deleted =
                diesel::delete(products::table.find(id.0)).execute(&mut conn).await.map_err(error::from_diesel)?;
            if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn set_like(&self, id: ProductId, user: UserId, liked: bool, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            if liked {
                // Of concurrent likes by one user, the primary key lets exactly one insert
                // (and the trigger count it); the others do nothing, keeping the first time.
                diesel::insert_into(likes::table)
                    .values((likes::user_id.eq(user.as_uuid()), likes::product_id.eq(id.0), likes::created_at.eq(now)))
                    .on_conflict_do_nothing()
                    .execute(&mut conn)
                    .await
                    .map_err(|e| {
                        StoreError::from(on_constraint(e, |name| match name {
                            LIKES_PRODUCT_FKEY => Some(StoreError::NotFound),
                            LIKES_USER_FKEY => Some(StoreError::InvalidReference("user_id".into())),
                            _ => None,
                        }))
                    })?;
                Ok(())
            } else {
                let unlike = diesel::sql_query(UNLIKE).bind::<SqlUuid, _>(user.as_uuid()).bind::<SqlUuid, _>(id.0);
                let found = prepared(unlike).get_result::<Found>(&mut conn).await.map_err(error::from_diesel)?;
                if found.found { Ok(()) } else { Err(StoreError::NotFound) }
            }
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn liked_by(&self, user: UserId, page: PageRequest) -> Result<Page<Product>, StoreError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let (sql, params) = liked_by_statement(user, page);
            let rows = params.query(&sql).load::<PageRow>(&mut conn).await.map_err(error::from_diesel)?;
            page_of(rows)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(escape_like(r"50% a_b c\d"), r"50\% a\_b c\\d");
        assert_eq!(escape_like("plain"), "plain");
    }

    #[test]
    fn every_filter_is_a_bound_parameter() {
        let filter = ProductFilter {
            q: Some("'; DROP TABLE products; --".into()),
            category: Some("books".into()),
            owner_id: Some(UserId(Uuid::nil())),
            min_price: Some(1),
            max_price: Some(2),
            in_stock: true,
        };
        let page = PageRequest { limit: 20, offset: 0 };
        let (sql, params) = list_statement(&filter, ProductSort::default(), page, None, None);
        assert!(!sql.contains("DROP"), "{sql}");
        // q, owner, min, max, slug: the limit is written, a zero offset left out.
        assert_eq!(params.0.len(), 5);
        assert!(sql.contains("x.owner_id = $2") && sql.contains("c.slug = $5"), "{sql}");
        assert!(sql.contains("x.price_cents >= $3 AND x.price_cents <= $4 AND x.stock > 0"), "{sql}");
        assert!(sql.contains("FROM product_categories l JOIN products x"), "a category drives the page: {sql}");
        let (sql, params) = list_statement(&ProductFilter::default(), ProductSort::default(), page, None, None);
        assert!(sql.contains("FROM products x  ORDER BY x.created_at DESC"), "{sql}");
        assert!(params.0.is_empty());
    }

    #[test]
    fn the_page_size_is_written_rounded_up_and_only_a_nonzero_offset_is_bound() {
        let listing = |limit, offset| {
            let (sql, params) = list_statement(
                &ProductFilter::default(),
                ProductSort::default(),
                PageRequest { limit, offset },
                None,
                None,
            );
            (sql, params.0.len())
        };
        // The service asks for one more row than the page holds.
        let (sql, bound) = listing(21, 0);
        assert!(sql.contains("LIMIT 21) p") && bound == 0, "{sql}");
        let (sql, bound) = listing(2, 40);
        assert!(sql.contains("LIMIT 21 OFFSET $1) p") && bound == 1, "{sql}");
        assert!(listing(22, 0).0.contains("LIMIT 51) p"));
        assert!(listing(101, 0).0.contains("LIMIT 101) p"));
        assert_eq!(
            rows_read(PageRequest::MAX_LIMIT + 1),
            PageRequest::MAX_LIMIT + 1,
            "none reads more than the largest"
        );
    }

    #[test]
    fn a_cursor_position_is_bound_out_of_the_planner_sight_but_still_bounds_the_index() {
        let sort = "-likes".parse::<ProductSort>().unwrap();
        let position = ProductPosition { id: ProductId(Uuid::nil()), value: SortValue::Likes(5) };
        let filter = ProductFilter { category: Some("books".into()), ..ProductFilter::default() };
        let page = PageRequest { limit: 21, offset: 0 };
        let (sql, _) = list_statement(&filter, sort, page, Some(&position), None);
        assert!(sql.contains("(l.like_count, l.product_id) < ((SELECT $3), (SELECT $2))"), "{sql}");
    }

    #[test]
    fn orders_follow_the_reference_and_break_ties_by_id_in_the_same_direction() {
        let sort = |raw: &str| raw.parse::<ProductSort>().unwrap();
        assert_eq!(order_by(sort("-created_at"), "p"), "p.created_at DESC, p.id DESC");
        assert_eq!(order_by(sort("name"), "x"), "x.name COLLATE \"C\" ASC, x.id ASC");
        assert_eq!(order_by(sort("rating"), "p"), "p.rating_tenths ASC NULLS LAST, p.id ASC");
        assert_eq!(order_by(sort("-rating"), "p"), "p.rating_tenths DESC NULLS LAST, p.id DESC");
        assert_eq!(order_by(sort("-likes"), "p"), "p.like_count DESC, p.id DESC");
    }
}
